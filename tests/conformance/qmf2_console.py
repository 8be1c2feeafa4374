#!/usr/bin/python3
# A QMFv2 console written from Apache Qpid's reference behaviour (the C++
# ConsoleSession and AgentSession, python qmf2), sharing no code with
# virtbus: it finds an agent, runs one check per QMFv2 exchange over AMQP
# 0-9-1 and/or 1.0, and prints a table check x transport -> works / fails
# with the reason.  Exit status 1 if any check fails.  README.md says where
# each expectation comes from.
import argparse
import sys
import time
import uuid

import proton

from qmf2_wire import (LINKS, LIST_TYPE, MAP_TYPE, QMF_APP_ID, WireError,
                       new_console_key)

PACKAGE = "org.libvirt"
DOMAIN_CLASS = "Domain"
FIXTURE_DOMAINS = {"web1", "web2", "db-test"}    # tests/fixtures/node1.xml
QMF_TYPES = {"TYPE_VOID", "TYPE_BOOL", "TYPE_INT", "TYPE_FLOAT", "TYPE_STRING",
             "TYPE_MAP", "TYPE_LIST", "TYPE_UUID"}
INT_TYPES = (int, proton.byte, proton.short, proton.int32, proton.ubyte, proton.ushort,
             proton.uint, proton.ulong)


class Fail(Exception):
    """A check's verdict: what a Qpid console would not accept, and why."""


def typed(value):
    """A value with its AMQP type, for failure reasons."""
    return "%s %r" % (type(value).__name__, value)


def is_int(value):
    return isinstance(value, INT_TYPES) and not isinstance(value, bool)


class Console:
    """One console session on one transport, the way the C++ ConsoleSession
    opens it: a reply key qmf.default.topic/direct-console.<uuid>, and also
    python qmf2's qmf.default.direct/<console name>; heartbeats and events
    on qmf.default.topic under the keys both Qpid agents use,
    agent.ind.heartbeat[...] and agent.ind.event[...]."""

    def __init__(self, link, args):
        self.link = link
        self.args = args
        key = new_console_key()
        # Qpid's addresses: qmf.<domain>.topic and qmf.<domain>.direct.
        self.topic = "qmf.%s.topic" % args.domain
        self.direct = "qmf.%s.direct" % args.domain
        self.name = "qmf2-conformance-" + str(uuid.uuid4())
        self.cpp_reply_to = self.topic + "/" + key
        self.py_reply_to = self.direct + "/" + self.name
        self.cpp_inbox = link.listen(self.topic, key, "replies (C++ form)")
        self.py_inbox = link.listen(self.direct, self.name, "replies (python form)")
        self.heartbeats = link.listen(self.topic, "agent.ind.heartbeat.#", "heartbeats")
        self.events = link.listen(self.topic, "agent.ind.event.#", "events")
        # Diagnostics only: a reply published on the direct exchange under
        # the whole reply-to string, as if it were a routing key.
        self.misrouted = [link.listen_any_key(self.direct, r, "misrouted replies")
                          for r in (self.cpp_reply_to, self.py_reply_to)]
        self.agent = None
        self.domains = {}        # name -> data map, from the class query
        self.next_correlator = 1

    # --- requests and replies ------------------------------------------------

    def locate(self, subject, body, python_form=False):
        return self.request(self.topic, subject, "_agent_locate_request", body, LIST_TYPE,
                            python_form)

    def request(self, exchange, subject, opcode, body, content_type, python_form=False):
        """Send one request; returns (correlation id, inbox of its replies)."""
        cid = str(self.next_correlator)
        self.next_correlator += 1
        props = {"method": "request", "qmf.opcode": opcode, "x-amqp-0-10.app-id": QMF_APP_ID}
        reply_to = self.py_reply_to if python_form else self.cpp_reply_to
        self.link.send(exchange, subject, props, body, content_type, reply_to, cid)
        return cid, (self.py_inbox if python_form else self.cpp_inbox)

    def to_agent(self, opcode, body, python_form=False):
        """A request on the agent's direct address qmf.<domain>.direct/<name>."""
        return self.request(self.direct, self.need_agent(), opcode, body, MAP_TYPE, python_form)

    def reply(self, cid, inbox, what):
        msg = inbox.take(lambda m: m.correlation_id == cid, self.args.timeout)
        if msg is None:
            raise Fail("no reply to the %s within %gs on %s%s"
                       % (what, self.args.timeout, inbox.label, self.strays(inbox, cid)))
        return msg

    def replies(self, cid, inbox, what):
        """Every message of one answer: the last one carries no 'partial'."""
        got = [self.reply(cid, inbox, what)]
        while "partial" in got[-1].props:
            msg = inbox.take(lambda m: m.correlation_id == cid, self.args.timeout)
            if msg is None:
                raise Fail("%d message(s) of the %s, all marked 'partial', then nothing"
                           " for %gs" % (len(got), what, self.args.timeout))
            got.append(msg)
        return got

    def strays(self, inbox, cid=None):
        """What else arrived, for a failure's reason: other messages in the
        inbox, and the reply to cid if it went astray."""
        note = ""
        other = inbox.seen()
        if other:
            note = " (%d other message(s) there, e.g. %s)" % (len(other), other[0].summary())
        for lost in filter(None, self.misrouted):
            msg = lost.take(lambda m: m.correlation_id == cid, 0.1)
            if cid is not None and msg is not None:
                note += ("; the reply went to %s under the routing key %r instead: %s"
                         % (self.direct, msg.subject, msg.summary()))
        return note

    def need_agent(self):
        if self.agent is None:
            if self.args.agent is None:
                raise Fail("no agent to ask: neither locate nor a heartbeat named one")
            # Discovery failed (its checks say why); the name given on the
            # command line lets the other checks show their own failures.
            self.agent = self.args.agent
        return self.agent

    # --- what a Qpid console reads ---------------------------------------------

    def qpid_reads(self, msg, opcode, content_type, content=None):
        """The properties and body ConsoleSessionImpl::dispatch and AgentImpl
        need before they look at a message; returns the decoded body."""
        problems = []
        app_id = msg.props.get("x-amqp-0-10.app-id", msg.props.get("app_id", msg.app_id))
        if app_id != QMF_APP_ID:
            problems.append("app-id %r, not 'qmf2' (x-amqp-0-10.app-id / app_id)" % (app_id,))
        if msg.opcode() != opcode:
            problems.append("qmf.opcode %r, expected %r" % (msg.opcode(), opcode))
        agent = msg.props.get("qmf.agent")
        if agent is None:
            problems.append("no qmf.agent property")
        elif self.agent is not None and agent != self.agent:
            problems.append("qmf.agent %r, expected %r" % (agent, self.agent))
        if content is not None and msg.props.get("qmf.content") != content:
            problems.append("qmf.content %r, expected %r"
                            % (msg.props.get("qmf.content"), content))
        if msg.content_type != content_type:
            problems.append("content-type %r, expected %r" % (msg.content_type, content_type))
        want = dict if content_type == MAP_TYPE else list
        if msg.body_error:
            problems.append("body: " + msg.body_error)
        elif not isinstance(msg.body, want):
            problems.append("body %s, expected a %s" % (msg.body_form or typed(msg.body),
                                                        want.__name__))
        if problems:
            raise Fail("; ".join(problems))
        return msg.body

    def query(self, body, content, what, python_form=False):
        """A _query_request; returns (objects, messages)."""
        cid, inbox = self.to_agent("_query_request", body, python_form)
        msgs = self.replies(cid, inbox, what)
        objects = []
        for msg in msgs:
            objects.extend(self.qpid_reads(msg, "_query_response", LIST_TYPE, content))
        return objects, msgs

    def domain_query(self, where=None, python_form=False):
        body = {"_what": "OBJECT",
                "_schema_id": {"_package_name": PACKAGE, "_class_name": DOMAIN_CLASS}}
        if where is not None:
            body["_where"] = where
        objects, msgs = self.query(body, "_data", "query for class " + DOMAIN_CLASS, python_form)
        found = {}
        for obj in objects:
            values = obj.get("_values") if isinstance(obj, dict) else None
            if not isinstance(values, dict):
                raise Fail("a _data item without a _values map: %r" % (obj,))
            if not isinstance(obj.get("_object_id"), dict):
                raise Fail("a _data item whose _object_id is %s, not an OBJECT_ID map"
                           % typed(obj.get("_object_id")))
            sid = obj.get("_schema_id")
            if not isinstance(sid, dict) or sid.get("_class_name") != DOMAIN_CLASS:
                raise Fail("a _data item with _schema_id %r" % (sid,))
            found[values.get("name")] = obj
        return found, msgs

    def method(self, domain, name, arguments, python_form=False):
        """A _method_request on one domain; returns the reply message."""
        obj = self.domains.get(domain)
        if obj is None:
            raise Fail("no object id for %s: the query by class did not list it" % domain)
        body = {"_method_name": name, "_arguments": arguments}
        if python_form:
            # python qmf2's QmfConsoleData.invoke_method: the object id as a
            # string, with the schema id beside it.
            body["_object_id"] = str(obj["_object_id"].get("_object_name"))
            body["_schema_id"] = obj["_schema_id"]
        else:
            body["_object_id"] = obj["_object_id"]
        cid, inbox = self.to_agent("_method_request", body, python_form)
        return self.reply(cid, inbox, "%s on %s" % (name, domain))

    def method_ok(self, domain, name, arguments, python_form=False):
        msg = self.method(domain, name, arguments, python_form)
        if msg.opcode() == "_exception":
            raise Fail("%s on %s answered _exception: %r" % (name, domain, msg.body))
        body = self.qpid_reads(msg, "_method_response", MAP_TYPE)
        if not isinstance(body.get("_arguments", {}), dict):
            raise Fail("_arguments is %s, not a map" % typed(body.get("_arguments")))
        return body.get("_arguments", {})

    def wait_state(self, domain, want):
        """Queries the domain until its state is want, within the bound;
        returns the last state seen (the agent may update it after it
        answered the method)."""
        deadline = time.monotonic() + self.args.timeout
        while True:
            found, _ = self.domain_query(["eq", "name", ["quote", domain]])
            if domain not in found:
                raise Fail("the query for %s did not return it" % domain)
            state = found[domain]["_values"].get("state")
            if state == want or time.monotonic() >= deadline:
                return state
            time.sleep(0.2)


def check_agent_values(values, where):
    """AgentImpl's attributes: _epoch is read with asUint32()."""
    if not isinstance(values, dict):
        raise Fail("%s: _values is %s, not a map" % (where, typed(values)))
    epoch = values.get("_epoch")
    if epoch is None:
        raise Fail("%s: no _epoch in _values" % where)
    if not is_int(epoch) or not 0 <= int(epoch) <= 0xFFFFFFFF:
        raise Fail("%s: _epoch is %s, which does not fit a uint32" % (where, typed(epoch)))


def mine(console, msg):
    """Is this agent the one the test started?  Qpid agent names are
    vendor:product:instance."""
    name = msg.props.get("qmf.agent")
    values = msg.body.get("_values", {}) if isinstance(msg.body, dict) else {}
    node = console.args.node
    return name is not None and (str(name).split(":")[-1] == node or
                                 values.get("_instance") == node)


# --- the checks, in the order they run --------------------------------------

CHECKS = []


def check(name):
    def register(fn):
        CHECKS.append((name, fn))
        return fn
    return register


@check("locate, body [] (C++ ConsoleSession)")
def locate_all(c):
    cid, inbox = c.locate("console.request.agent_locate", [])
    msg = inbox.take(lambda m: m.correlation_id == cid and mine(c, m), c.args.timeout)
    if msg is None:
        raise Fail("no _agent_locate_response for node %s within %gs%s"
                   % (c.args.node, c.args.timeout, c.strays(inbox, cid)))
    c.agent = msg.props["qmf.agent"]
    body = c.qpid_reads(msg, "_agent_locate_response", MAP_TYPE)
    check_agent_values(body.get("_values"), "locate response")


@check("heartbeat")
def heartbeat(c):
    wait = c.args.heartbeat_wait
    # One without qmf.agent is taken too: its failure says what it lacks.
    msg = c.heartbeats.take(
        lambda m: "qmf.agent" not in m.props or
        (m.props["qmf.agent"] == c.agent if c.agent else mine(c, m)), wait)
    if msg is None:
        raise Fail("no _agent_heartbeat_indication from %s on %s/agent.ind.heartbeat.# within"
                   " %gs%s" % (c.agent or "node " + c.args.node, c.topic, wait,
                               c.strays(c.heartbeats)))
    note = None
    if c.agent is None and "qmf.agent" in msg.props:
        c.agent = msg.props["qmf.agent"]
        note = "locate named no agent; this heartbeat named %s" % c.agent
    try:
        body = c.qpid_reads(msg, "_agent_heartbeat_indication", MAP_TYPE)
        check_agent_values(body.get("_values"), "heartbeat")
    except Fail as e:
        raise Fail("%s (%s)" % (e, note)) if note else e
    return note


@check("locate, predicate list (python qmf2)")
def locate_predicate(c):
    agent = c.need_agent()
    miss, inbox = c.locate("console.ind.locate", ["eq", "_name", ["quote", agent + "-no-such"]],
                           True)
    hit, _ = c.locate("console.ind.locate", ["eq", "_name", ["quote", agent]], True)
    msg = c.reply(hit, inbox, "locate with predicate _name == %r" % agent)
    c.qpid_reads(msg, "_agent_locate_response", MAP_TYPE)
    if any(m.correlation_id == miss for m in inbox.seen()):
        raise Fail("answered a locate whose predicate does not match (_name == %r)"
                   % (agent + "-no-such"))


@check("locate, no body (python qmf2 find_agent)")
def locate_no_body(c):
    agent = c.need_agent()
    cid, inbox = c.locate("console.ind.locate." + agent, None, True)
    msg = c.reply(cid, inbox, "locate without a body")
    c.qpid_reads(msg, "_agent_locate_response", MAP_TYPE)


def all_domains(c):
    """The class query, which must list every domain of the fixture."""
    found, msgs = c.domain_query()
    missing = FIXTURE_DOMAINS - set(found)
    if missing:
        raise Fail("the answer (%d message(s)) lacks %s; it has %s"
                   % (len(msgs), sorted(missing), sorted(found, key=str)))
    return found, msgs


@check("query by class")
def query_by_class(c):
    c.domains, _ = all_domains(c)


@check("query by _where")
def query_where(c):
    found, _ = c.domain_query(["eq", "name", ["quote", "web1"]])
    if set(found) != {"web1"}:
        raise Fail("_where name == 'web1' returned %s" % sorted(found, key=str))


@check("partial responses")
def partial(c):
    # Every message but the last carries 'partial' (AgentSessionImpl::
    # flushResponses); replies() ends on the first one without it, so an
    # early end shows as missing objects, a late one as a time-out.
    _, msgs = all_domains(c)
    return "%d message(s)" % len(msgs)


@check("schema query")
def schema_query(c):
    ids, _ = c.query({"_what": "SCHEMA_ID"}, "_schema_id", "schema id query")
    for sid in ids:
        if not isinstance(sid, dict) or sid.get("_type") not in ("_data", "_event"):
            raise Fail("schema id %r: _type must be '_data' or '_event'" % (sid,))
    domain = [s for s in ids if s.get("_package_name") == PACKAGE and
              s.get("_class_name") == DOMAIN_CLASS]
    if not domain:
        raise Fail("no %s:%s among %d schema ids" % (PACKAGE, DOMAIN_CLASS, len(ids)))
    schemas, _ = c.query({"_what": "SCHEMA", "_schema_id": domain[0]}, "_schema", "schema query")
    if len(schemas) != 1 or not isinstance(schemas[0], dict):
        raise Fail("%d schemas for one schema id" % len(schemas))
    schema = schemas[0]
    if not isinstance(schema.get("_schema_id"), dict):
        raise Fail("the schema has no _schema_id map")
    for prop in schema.get("_properties", []):
        check_schema_property(prop, "property")
    methods = schema.get("_methods", [])
    for meth in methods:
        if not isinstance(meth, dict) or "_name" not in meth:
            raise Fail("a method without _name: %r" % (meth,))
        for arg in meth.get("_arguments", []):
            check_schema_property(arg, "argument of %s" % meth["_name"])
    if "getXMLDesc" not in [m["_name"] for m in methods]:
        raise Fail("the Domain schema lists no getXMLDesc method")


def check_schema_property(prop, what):
    """SchemaPropertyImpl(const Variant::Map&) throws on anything else."""
    if not isinstance(prop, dict) or not isinstance(prop.get("_name"), str):
        raise Fail("%s without a _name string: %r" % (what, prop))
    if prop.get("_type") not in QMF_TYPES:
        raise Fail("%s %s: _type %s is not a QMFv2 TYPE_* code"
                   % (what, prop["_name"], typed(prop.get("_type"))))
    if "_access" in prop and prop["_access"] not in ("RO", "RC", "RW"):
        raise Fail("%s %s: _access %r" % (what, prop["_name"], prop["_access"]))
    if "_dir" in prop and prop["_dir"] not in ("I", "O", "IO"):
        raise Fail("%s %s: _dir %r" % (what, prop["_name"], prop["_dir"]))


@check("method call (map _object_id)")
def method_call(c):
    out = c.method_ok("web1", "getXMLDesc", {})
    if "<domain" not in str(out.get("description", "")):
        raise Fail("getXMLDesc's out-arguments: %r" % (out,))


@check("method call (string _object_id, python qmf2)")
def method_call_string_oid(c):
    out = c.method_ok("web1", "getXMLDesc", {}, python_form=True)
    if "<domain" not in str(out.get("description", "")):
        raise Fail("getXMLDesc's out-arguments: %r" % (out,))


@check("_exception for an unknown method")
def unknown_method(c):
    msg = c.method("web1", "noSuchMethod", {})
    body = c.qpid_reads(msg, "_exception", MAP_TYPE)
    if not isinstance(body.get("_values"), dict):
        raise Fail("the _exception body has no _values map (QMF_DATA): %r" % (body,))


@check("reply-to qmf.default.direct/<name>")
def reply_to_direct(c):
    found, _ = c.domain_query(["eq", "name", ["quote", "web2"]], python_form=True)
    if set(found) != {"web2"}:
        raise Fail("_where name == 'web2' returned %s" % sorted(found, key=str))


@check("message-id qmf2 reused")
def message_id_reused(c):
    # python qmf2 sends message-id 'qmf2' on every request: two different
    # requests with that id must both be carried out.
    c.method_ok("web2", "suspend", {})
    paused = c.wait_state("web2", "paused")
    c.method_ok("web2", "resume", {})
    running = c.wait_state("web2", "running")
    if (paused, running) != ("paused", "running"):
        raise Fail("web2 after suspend: %r, after resume: %r" % (paused, running))


@check("event subscription")
def event(c):
    c.events.kept.clear()
    c.method_ok("web1", "suspend", {})
    c.method_ok("web1", "resume", {})
    msg = c.events.take(lambda m: m.props.get("qmf.agent", c.agent) == c.agent, c.args.timeout)
    if msg is None:
        raise Fail("no event from %s on %s/agent.ind.event.# within %gs after suspend%s"
                   % (c.agent, c.topic, c.args.timeout, c.strays(c.events)))
    events = c.qpid_reads(msg, "_data_indication", LIST_TYPE, "_event")
    for ev in events:
        if not isinstance(ev, dict) or not isinstance(ev.get("_values"), dict):
            raise Fail("an event without a _values map: %r" % (ev,))
        sev = ev.get("_severity")
        if not is_int(sev) or not 0 <= int(sev) <= 7:
            raise Fail("_severity is %s; AgentImpl reads asInt8(), 0 (emerg) .. 7 (debug)"
                       % typed(sev))
        if not is_int(ev.get("_timestamp")):
            raise Fail("_timestamp is %s, not an integer (asUint64)" % typed(ev.get("_timestamp")))
        if not isinstance(ev.get("_schema_id"), dict):
            raise Fail("an event without a _schema_id map: %r" % (ev,))


def run(transport, args):
    """Runs every check on one transport; returns [(name, reason, note)],
    reason None when the check works."""
    trace = (lambda line: print("  [%s] %s" % (transport, line), file=sys.stderr)) \
        if args.trace else None
    try:
        link = LINKS[transport](args.url, trace)
        console = Console(link, args)
    except WireError as e:
        return [(name, "transport: %s" % e, None) for name, _ in CHECKS]
    results = []
    try:
        for name, fn in CHECKS:
            try:
                results.append((name, None, fn(console)))
            except Fail as e:
                results.append((name, str(e), None))
            except WireError as e:
                results.append((name, "transport: %s" % e, None))
                break
    finally:
        link.close()
    done = len(results)
    return results + [(name, "not run: the transport failed", None) for name, _ in CHECKS[done:]]


def table(columns):
    """check x transport -> works / FAILS, then the reasons; and whether
    anything failed."""
    width = max(len(name) for name, _ in CHECKS)
    lines = ["%-*s  %s" % (width, "check", "  ".join("%-7s" % t for t, _ in columns))]
    for i, (name, _) in enumerate(CHECKS):
        cells = ["works" if results[i][1] is None else "FAILS" for _, results in columns]
        lines.append("%-*s  %s" % (width, name, "  ".join("%-7s" % c for c in cells)))
    failed = False
    for transport, results in columns:
        for name, reason, note in results:
            if reason is not None:
                failed = True
                lines.append("%s / %s: FAILS: %s" % (transport, name, reason))
            elif note:
                lines.append("%s / %s: works: %s" % (transport, name, note))
    return "\n".join(lines), failed


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True, help="broker, amqp://user:pass@host:port")
    ap.add_argument("--node", required=True, help="the node name of the agent to test")
    ap.add_argument("--transport", action="append", choices=sorted(LINKS),
                    help="run over this transport (repeatable; default both)")
    ap.add_argument("--timeout", type=float, default=15.0,
                    help="bound on each wait for a reply (seconds)")
    ap.add_argument("--heartbeat-wait", type=float, default=30.0,
                    help="bound on the wait for a heartbeat (seconds)")
    ap.add_argument("--domain", default="default", help="the QMF domain (qmf.<domain>.topic)")
    ap.add_argument("--agent", help="the agent's name, used only if discovery names none")
    ap.add_argument("--trace", action="store_true", help="print every message sent and received")
    args = ap.parse_args()
    columns = [(t, run(t, args)) for t in args.transport or sorted(LINKS)]
    text, failed = table(columns)
    print(text)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
