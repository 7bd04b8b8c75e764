"""The dispatch link to the district smart-dispatch platform (IOT-7 / SYS-DISPATCH).

`adapters/` speaks to the platform (one module per protocol, behind a registry);
`signing` verifies the platform's signed callbacks. The outbox that drives the adapters
and stores the external ids lives with the events core."""
