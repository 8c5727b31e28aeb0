"""The OCPP versions this server speaks, by WebSocket subprotocol.

Each version is a module of plain handlers with the same shape (see v16.py): HANDLERS
(action -> function), ACTIONS (every action the version defines), COMMANDS (what a
central system may send), WITHOUT_DATABASE (actions handle() answers without the
database, on the event loop) and handle(). OCPP 2.0.1 joins as `"ocpp2.0.1": v201`;
the consumer, the framing (rpc.py) and commands.py need no change for it.
"""

from types import ModuleType

from stations.ocpp import v16

# In order of preference when a charger offers several.
PROTOCOLS: dict[str, ModuleType] = {"ocpp1.6": v16}
# A charge point that never connected is spoken to in this version.
DEFAULT_SUBPROTOCOL = "ocpp1.6"
