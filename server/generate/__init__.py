"""What the sounds are made of: procedural synthesis, the user's library, or the LDM."""
