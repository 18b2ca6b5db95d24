"""Smart charging (1.6 Smart Charging profile, 2.0.1 block K): charging
profiles sent, cleared and reported, composite schedules, and site load
management (a tree of sites and circuits whose limits an allocator divides
among the charging EVSEs). See docs/smart-charging.md."""
