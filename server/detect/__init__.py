"""When sounds happen: per-frame activity (the paper's T_ct) and the event intervals."""
