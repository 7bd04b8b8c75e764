"""The city-operations big screen (SYS-SCREEN), its emergency/holiday monitoring mode (EMRG-4)
and the guided demonstration for visitors (VISIT-2)."""
