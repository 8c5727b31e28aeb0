# Placeholder until the embedded cross-process layer lands.
from channels.layers import InMemoryChannelLayer


class SQLiteChannelLayer(InMemoryChannelLayer):
    def __init__(self, path: str = "", **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
