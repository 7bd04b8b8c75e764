"""City events (IOT-6, IOT-7, SYS-DISPATCH): a problem seen in the district becomes an event,
is routed to the unit that must act, comes back disposed, is verified and closed."""
