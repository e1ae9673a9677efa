#!/usr/bin/env python3
"""A minimal OTLP/HTTP trace receiver for tests/it/traces.rs.

Decodes each POST /v1/traces body as an ExportTraceServiceRequest with the
official OpenTelemetry proto definitions (PyPI `opentelemetry-proto`) and
appends one JSON line per span to OUT:

  {"trace_id", "span_id", "parent_span_id" (hex, "" for a root), "name",
   "kind", "attributes": {key: value as text}, "events": [{"name",
   "attributes"}], "status_code", "resource": {key: value as text},
   "content_type"}

Usage: receiver.py OUT. Listens on 127.0.0.1, on a port of its own choosing,
and prints that port on its first line of standard output. Exits when its
standard input closes (the test that started it ended).
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


def text(value):
    """An AnyValue as text (nested values as their JSON-ish form)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    if kind == "array_value":
        return json.dumps([text(v) for v in value.array_value.values])
    if kind == "kvlist_value":
        return json.dumps({kv.key: text(kv.value) for kv in value.kvlist_value.values})
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return str(getattr(value, kind))


def attributes(kvs):
    return {kv.key: text(kv.value) for kv in kvs}


class Handler(BaseHTTPRequestHandler):
    out = None
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path != "/v1/traces":
            self.send_response(404)
            self.end_headers()
            return
        request = trace_service_pb2.ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except Exception as e:  # a body that is not the proto: the test fails on it
            sys.stderr.write(f"undecodable export: {e}\n")
            self.send_response(400)
            self.end_headers()
            return
        lines = []
        for rs in request.resource_spans:
            resource = attributes(rs.resource.attributes)
            for ss in rs.scope_spans:
                for span in ss.spans:
                    lines.append(json.dumps({
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "name": span.name,
                        "kind": span.kind,
                        "attributes": attributes(span.attributes),
                        "events": [
                            {"name": e.name, "attributes": attributes(e.attributes)}
                            for e in span.events
                        ],
                        "status_code": span.status.code,
                        "resource": resource,
                        "content_type": self.headers.get("Content-Type", ""),
                    }))
        with Handler.lock, open(Handler.out, "a", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
        answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def main():
    Handler.out = sys.argv[1]
    open(Handler.out, "w").close()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
