"""scim2-server (PyPI, python-scim project) served as a Databricks workspace would serve SCIM.

Its WSGI application serves ``/v2/...``; a Databricks workspace serves
``/api/2.0/preview/scim/v2/...``. A small middleware moves the Databricks prefix
from PATH_INFO to SCRIPT_NAME (as scim2-server's own TenantDispatcher does for
tenants), so the application sees ``/v2/Users`` and builds its locations under
the Databricks path. Anything outside the prefix is a 404.

Usage: python scim2_server_peer.py --token TOKEN [--port 0]
Listens on 127.0.0.1 (port 0: a free port) and prints one line
``listening http://127.0.0.1:PORT/api/2.0/preview/scim/v2`` once it accepts.
"""

import argparse
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from scim2_server.memory import InMemoryStorage
from scim2_server.testserver.application import BearerTokenApplication
from scim2_server.utils import load_default_provider

PREFIX = "/api/2.0/preview/scim"


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - wsgiref's signature
        sys.stderr.write("scim2-server: %s\n" % (format % args))


def databricks_prefix(app):
    def wrapped(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not under " + PREFIX.encode() + b"\n"]
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + PREFIX
        environ["PATH_INFO"] = path[len(PREFIX) :]
        return app(environ, start_response)

    return wrapped


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--token", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    app = BearerTokenApplication(
        InMemoryStorage(), load_default_provider(), bearer_tokens=[args.token]
    )
    server = make_server(
        "127.0.0.1",
        args.port,
        databricks_prefix(app),
        server_class=ThreadingWSGIServer,
        handler_class=QuietHandler,
    )
    port = server.server_address[1]
    print(f"listening http://127.0.0.1:{port}{PREFIX}/v2", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
