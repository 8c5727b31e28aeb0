"""The other process of tests/test_channel_layer.py: joins a group, answers one message.

    python tests/channel_layer_peer.py LAYER_FILE GROUP

Prints "ready" once it is a member of GROUP, then waits for one group message and
sends {"type": "peer.reply", "text": ..., "pid": ...} to the message's reply_to.
"""

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chargehub.channel_layer import SQLiteChannelLayer


async def main(path: str, group: str) -> None:
    layer = SQLiteChannelLayer(path=path)
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    print("ready", flush=True)
    message = await layer.receive(channel)
    await layer.send(
        message["reply_to"], {"type": "peer.reply", "text": message["text"], "pid": os.getpid()}
    )
    await layer.group_discard(group, channel)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
