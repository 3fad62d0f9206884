"""GraphQL object types; each keeps its row private and is built with ``from_row``."""
