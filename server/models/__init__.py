"""The paper's model stack, one file per model family; each imports torch, so import lazily."""
