"""``python -m fakestripe [--host H] [--port P] [--webhook-url U --webhook-secret S]``.

Prints one JSON line ``{"url": "http://H:PORT"}`` on stdout once listening (``--port 0`` picks a
free port), then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from aiohttp import web

from fakestripe.app import make_app


async def serve(host: str, port: int, webhook: tuple[str | None, str | None]) -> None:
    runner = web.AppRunner(make_app(webhook), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    print(json.dumps({"url": f"http://{host}:{bound}"}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fakestripe", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", help="webhook endpoint for every API key without its own")
    parser.add_argument("--webhook-secret", help="its signing secret (whsec_...)")
    args = parser.parse_args(argv)
    if bool(args.webhook_url) != bool(args.webhook_secret):
        parser.error("--webhook-url and --webhook-secret go together")
    asyncio.run(serve(args.host, args.port, (args.webhook_url, args.webhook_secret)))


if __name__ == "__main__":
    sys.exit(main())
