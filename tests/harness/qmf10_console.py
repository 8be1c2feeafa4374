#!/usr/bin/python3
# A QMFv2 console over AMQP 1.0 (python3-qpid-proton) written the way
# Apache Qpid's consoles talk, against one virtbusd through RabbitMQ's 1.0
# plugin: amqp/map and amqp/list bodies, application-properties,
# a reply-to of Qpid's form (qmf.default.topic/direct-console.<id>), a
# string _object_id, and indications read from the topic exchange.  It
# uses no virtbus code.  Each check prints "ok <what>"; the first failure
# exits 1 saying why.  Every wait is bounded.
#
#   qmf10_console.py URL NODE
import sys
import uuid

import proton
from proton import Message
from proton.utils import BlockingConnection

WAIT = 20  # s, a bound on each answer
url, node = sys.argv[1], sys.argv[2]
agent = "virtbus:agent:" + node
web1 = "domain:10000000-0000-4000-8000-000000000001"


def fail(why):
    print("FAIL " + why, flush=True)
    conn.close()
    sys.exit(1)


def check(cond, why):
    if not cond:
        fail(why)


conn = BlockingConnection(url, timeout=WAIT)
reply_key = "direct-console." + str(uuid.uuid4())
replies = conn.create_receiver("/exchange/qmf.default.topic/" + reply_key)
heartbeats = conn.create_receiver("/exchange/qmf.default.topic/agent.ind.heartbeat.#")
events = conn.create_receiver("/exchange/qmf.default.topic/agent.ind.event.#")
direct = conn.create_sender("/exchange/qmf.default.direct/" + agent)
topic = conn.create_sender("/exchange/qmf.default.topic/console.request.agent_locate")
counter = [0]


def request(sender, opcode, body, content_type):
    counter[0] += 1
    corr = "c-%d" % counter[0]
    sender.send(Message(body=body, content_type=content_type, id="qmf2", correlation_id=corr,
                        reply_to="qmf.default.topic/" + reply_key,
                        properties={"qmf.opcode": opcode, "method": "request"}))
    return corr


def answers(corr):
    """The messages answering corr, up to the one without partial."""
    got = []
    while True:
        try:
            m = replies.receive(timeout=WAIT)
        except proton.Timeout:
            fail("no answer to %s within %d s" % (corr, WAIT))
        replies.accept()
        if m.correlation_id != corr:
            continue
        check(m.properties is not None, "an answer without application-properties")
        got.append(m)
        if not m.properties.get("partial"):
            return got


def one(corr, opcode):
    got = answers(corr)
    m = got[-1]
    check(m.properties.get("qmf.opcode") == opcode,
          "expected %s, got %s: %s" % (opcode, m.properties.get("qmf.opcode"), m.body))
    check(m.properties.get("qmf.agent") == agent, "qmf.agent is %s" % m.properties.get("qmf.agent"))
    return m


# Locate, broadcast, with QMFv2's empty predicate list.
m = one(request(topic, "_agent_locate_request", [], "amqp/list"), "_agent_locate_response")
values = m.body["_values"]
check(values["node"] == node, "locate found %s" % values.get("node"))
check(type(values["_epoch"]) is proton.uint, "_epoch is a %s, not a uint32" % type(values["_epoch"]))
print("ok locate with a list body; _epoch uint32", flush=True)

# Query by class, and by _where.
m = one(request(direct, "_query_request",
                {"_what": "OBJECT", "_schema_id": {"_class_name": "Domain"}}, "amqp/map"),
        "_query_response")
check(m.content_type == "amqp/list", "content type %s" % m.content_type)
check(m.properties.get("qmf.content") == "_data", "qmf.content %s" % m.properties.get("qmf.content"))
check(len(m.body) == 3, "%d domains" % len(m.body))
print("ok query by class: amqp/list, application-properties", flush=True)
m = one(request(direct, "_query_request",
                {"_what": "OBJECT", "_schema_id": {"_class_name": "Domain"},
                 "_where": ["eq", "name", ["quote", "web1"]]}, "amqp/map"), "_query_response")
check(len(m.body) == 1 and m.body[0]["_values"]["name"] == "web1", "where: %s" % m.body)
print("ok query by _where", flush=True)

# Schema: QMFv2's TYPE_* codes.
m = one(request(direct, "_query_request",
                {"_what": "SCHEMA", "_schema_id": {"_class_name": "Domain"}}, "amqp/map"),
        "_query_response")
types = set(p["_type"] for p in m.body[0]["_properties"])
check(all(t.startswith("TYPE_") for t in types), "schema types %s" % types)
print("ok schema query: %s" % " ".join(sorted(types)), flush=True)

# A method by a string _object_id, as Python's qmf2 sends it.
m = one(request(direct, "_method_request",
                {"_object_id": web1, "_method_name": "getXMLDesc", "_arguments": {}}, "amqp/map"),
        "_method_response")
check("<domain" in m.body["_arguments"]["description"], "getXMLDesc: %s" % m.body)
print("ok method call", flush=True)
m = one(request(direct, "_method_request",
                {"_object_id": web1, "_method_name": "noSuchMethod", "_arguments": {}}, "amqp/map"),
        "_exception")
check(m.body["_values"]["error_code"] == 2, "exception %s" % m.body)
print("ok _exception for an unknown method", flush=True)

# Indications (the agent runs with indication_encoding = "amqp" and
# indication_amqp10 = yes).
try:
    hb = heartbeats.receive(timeout=WAIT)
except proton.Timeout:
    fail("no heartbeat within %d s" % WAIT)
heartbeats.accept()
check(hb.properties is not None and
      hb.properties.get("qmf.opcode") == "_agent_heartbeat_indication",
      "heartbeat properties %s" % hb.properties)
check(type(hb.body["_values"]["_epoch"]) is proton.uint, "heartbeat _epoch %r" % hb.body)
print("ok heartbeat with application-properties", flush=True)

one(request(direct, "_method_request",
            {"_object_id": web1, "_method_name": "suspend", "_arguments": {}}, "amqp/map"),
    "_method_response")
while True:
    try:
        ev = events.receive(timeout=WAIT)
    except proton.Timeout:
        fail("no domainLifecycle event within %d s" % WAIT)
    events.accept()
    check(ev.properties is not None and ev.properties.get("qmf.content") == "_event",
          "event properties %s" % ev.properties)
    item = ev.body[0]
    if item["_schema_id"]["_class_name"] == "domainLifecycle":
        break
check(type(item["_severity"]) is proton.byte and item["_severity"] == 6,
      "_severity %r" % item["_severity"])
check(item["_values"]["event"] == "suspended", "event %s" % item["_values"])
print("ok event with an int8 _severity", flush=True)
conn.close()
print("qmf10_console: all ok", flush=True)
