"""Private utilities: file I/O, seeding, hooks. Nothing here is part of the public API."""
