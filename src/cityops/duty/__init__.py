"""The district's duty roster (值班, IOT-5 / OPS-3): contacts, teams and shifts, and who is
on duty at a given moment. The notification engine (`cityops.notify`) asks it whom to call;
rotation planning and handover build on the same tables later."""
