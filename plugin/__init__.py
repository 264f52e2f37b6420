"""Host integrations: the DaVinci Resolve script, the Premiere Pro UXP panel, their installer."""
