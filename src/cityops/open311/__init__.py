"""Open311 GeoReport v2 intake (IOT-7, SYS-DISPATCH)."""
