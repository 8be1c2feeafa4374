# The conformance console's two transports: AMQP 0-9-1 (pika) and AMQP 1.0
# (python3-qpid-proton, through RabbitMQ's 1.0 plugin).  Both speak QMFv2
# the way Apache Qpid's consoles do (README.md says where each form comes
# from) and hand the checks one neutral message shape, WireMessage.
import time
import uuid

import pika
import proton
from proton.utils import BlockingConnection

QMF_APP_ID = "qmf2"
# Qpid's consoles decode nothing else (ConsoleSessionImpl::dispatch).
MAP_TYPE = "amqp/map"
LIST_TYPE = "amqp/list"


class WireError(Exception):
    """The transport itself failed: connection, link, exchange."""


class WireMessage:
    """One received message, whatever the transport: the properties a Qpid
    console reads, the decoded body, and how the body was carried."""

    def __init__(self):
        self.props = {}          # 0-9-1 headers / 1.0 application-properties
        self.app_id = None       # 0-9-1 basic property app-id (no 1.0 field)
        self.message_id = None
        self.correlation_id = None
        self.reply_to = None
        self.subject = None      # routing key, or the 1.0 subject
        self.content_type = None
        self.body = None
        self.body_form = ""      # e.g. "amqp-value map", "data section"
        self.body_error = None   # why the body could not be decoded

    def opcode(self):
        return self.props.get("qmf.opcode")

    def summary(self, limit=400):
        text = ("subject=%r content-type=%r app-id=%r correlation-id=%r props=%r body(%s)=%r"
                % (self.subject, self.content_type, self.app_id, self.correlation_id,
                   self.props, self.body_form or self.body_error, self.body))
        return text if len(text) <= limit else text[:limit] + "..."


def typed_encode(value):
    """AMQP typed encoding of one value: the body of a 0-9-1 amqp/map or
    amqp/list message (the same bytes a 1.0 amqp-value section wraps)."""
    data = proton.Data()
    data.put_object(value)
    return data.encode()


def typed_decode(raw):
    data = proton.Data()
    used = data.decode(raw)
    if used != len(raw):
        raise ValueError("%d bytes left after one AMQP value" % (len(raw) - used))
    data.rewind()
    data.next()
    return data.get_object()


def _form(value):
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


class Inbox:
    """Messages from one subscription.  take() returns the first one a
    predicate accepts, within a bound; the others wait for later takes
    (heartbeats arrive while a check waits for a reply)."""

    def __init__(self, link, handle, label):
        self.link = link
        self.handle = handle
        self.label = label
        self.kept = []

    def take(self, accept, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for msg in self.kept:
                if accept(msg):
                    self.kept.remove(msg)
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            got = self.link.receive(self, left)
            self.kept.extend(got)

    def seen(self):
        return list(self.kept)


class Amqp091Link:
    """QMFv2 over AMQP 0-9-1 with pika.  A Qpid address "exchange/subject"
    is the exchange and the routing key."""

    name = "amqp091"

    def __init__(self, url, trace=None):
        self.trace = trace
        try:
            self.conn = pika.BlockingConnection(pika.URLParameters(url))
            self.channel = self.conn.channel()
        except pika.exceptions.AMQPError as e:
            raise WireError("cannot connect: %r" % e)
        self.buffers = {}

    def listen(self, exchange, key, label):
        try:
            # Qpid's consoles never create the QMF exchanges
            # ({create:never}): the agent side declares them.
            self.channel.exchange_declare(exchange, passive=True)
            queue = self.channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
            self.channel.queue_bind(queue, exchange, key)
        except pika.exceptions.AMQPError as e:
            raise WireError("cannot bind %s/%s: %r" % (exchange, key, e))
        inbox = Inbox(self, queue, label)
        self.buffers[queue] = []
        self.channel.basic_consume(queue, self._on_message(queue), auto_ack=True)
        return inbox

    def _on_message(self, queue):
        def deliver(_channel, method, props, body):
            msg = self._decode(method, props, body)
            if self.trace:
                self.trace("recv 0-9-1 %s" % msg.summary(10 ** 6))
            self.buffers[queue].append(msg)
        return deliver

    def _decode(self, method, props, body):
        msg = WireMessage()
        msg.props = dict(props.headers or {})
        msg.app_id = props.app_id
        msg.message_id = props.message_id
        msg.correlation_id = props.correlation_id
        msg.reply_to = props.reply_to
        msg.subject = method.routing_key
        msg.content_type = props.content_type
        if props.content_type in (MAP_TYPE, LIST_TYPE):
            try:
                msg.body = typed_decode(body) if body else None
                msg.body_form = "typed " + _form(msg.body)
            except Exception as e:
                msg.body_error = "undecodable %s body: %s" % (props.content_type, e)
        else:
            msg.body = body[:120]
            msg.body_error = "%d bytes of %r" % (len(body), props.content_type)
        return msg

    def listen_any_key(self, exchange, key, label):
        """A diagnostic subscription under any key: here, listen()."""
        return self.listen(exchange, key, label)

    def receive(self, inbox, timeout):
        buf = self.buffers[inbox.handle]
        deadline = time.monotonic() + timeout
        while not buf:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                self.conn.process_data_events(time_limit=min(left, 1.0))
            except pika.exceptions.AMQPError as e:
                raise WireError("connection lost: %r" % e)
        got = list(buf)
        buf.clear()
        return got

    def send(self, exchange, subject, app_props, body, content_type, reply_to, correlation_id):
        props = pika.BasicProperties(
            content_type=content_type, app_id=QMF_APP_ID, message_id=QMF_APP_ID,
            correlation_id=correlation_id, reply_to=reply_to, headers=dict(app_props))
        raw = b"" if body is None else typed_encode(body)
        if self.trace:
            self.trace("send 0-9-1 %s/%s props=%r body=%r" % (exchange, subject, app_props, body))
        try:
            self.channel.basic_publish(exchange, subject, raw, props)
        except pika.exceptions.AMQPError as e:
            raise WireError("publish to %s/%s: %r" % (exchange, subject, e))

    def close(self):
        try:
            self.conn.close()
        except pika.exceptions.AMQPError:
            pass


class Amqp10Link:
    """QMFv2 over AMQP 1.0 with qpid-proton, through RabbitMQ's 1.0 plugin:
    a Qpid address "exchange/subject" is the target "/exchange/<exchange>"
    with the subject as routing key; a subscription is the source
    "/exchange/<exchange>/<key>"."""

    name = "amqp10"

    def __init__(self, url, trace=None):
        self.trace = trace
        try:
            self.conn = BlockingConnection(url, timeout=30, allowed_mechs="PLAIN",
                                           allow_insecure_mechs=True)
        except Exception as e:
            raise WireError("cannot connect: %r" % e)
        self.senders = {}

    def listen(self, exchange, key, label):
        try:
            receiver = self.conn.create_receiver("/exchange/%s/%s" % (exchange, key), credit=256)
        except Exception as e:
            raise WireError("cannot attach /exchange/%s/%s: %r" % (exchange, key, e))
        return Inbox(self, receiver, label)

    def listen_any_key(self, exchange, key, label):
        """None: the plugin's addresses cannot hold a key with a '/'."""
        return None

    def _decode(self, pm):
        msg = WireMessage()
        msg.props = dict(pm.properties or {})
        msg.message_id = pm.id
        msg.correlation_id = None if pm.correlation_id is None else str(pm.correlation_id)
        msg.reply_to = pm.reply_to
        msg.subject = pm.subject
        msg.content_type = None if pm.content_type is None else str(pm.content_type)
        body = pm.body
        if isinstance(body, (bytes, memoryview)) and pm.inferred:
            msg.body = bytes(body)[:120]
            msg.body_error = "a data section of %d bytes" % len(body)
        elif isinstance(body, list) and pm.inferred:
            msg.body, msg.body_form = body, "amqp-sequence"
        elif body is None:
            msg.body_form = "no body"
        else:
            msg.body, msg.body_form = body, "amqp-value " + _form(body)
        return msg

    def receive(self, inbox, timeout):
        try:
            pm = inbox.handle.receive(timeout=timeout)
        except proton.Timeout:
            return []
        except Exception as e:
            raise WireError("connection lost: %r" % e)
        inbox.handle.accept()
        msg = self._decode(pm)
        if self.trace:
            self.trace("recv 1.0 %s" % msg.summary(10 ** 6))
        return [msg]

    def send(self, exchange, subject, app_props, body, content_type, reply_to, correlation_id):
        sender = self.senders.get(exchange)
        try:
            if sender is None:
                sender = self.senders[exchange] = self.conn.create_sender("/exchange/" + exchange)
            pm = proton.Message(body=body, id=QMF_APP_ID, correlation_id=correlation_id,
                                reply_to=reply_to, subject=subject, content_type=content_type,
                                properties=dict(app_props))
            # RabbitMQ 3.10.8's plugin closes the connection on an
            # amqp-value list of two or more items; an amqp-sequence of
            # the same items passes (ENVIRONMENT-NOTES.md).
            if isinstance(body, list) and len(body) >= 2:
                pm.inferred = True
            if self.trace:
                self.trace("send 1.0 /exchange/%s subject=%s props=%r body=%r%s"
                           % (exchange, subject, app_props, body,
                              " (amqp-sequence)" if pm.inferred else ""))
            sender.send(pm)
        except Exception as e:
            raise WireError("send to /exchange/%s subject %s: %r" % (exchange, subject, e))

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass


LINKS = {Amqp091Link.name: Amqp091Link, Amqp10Link.name: Amqp10Link}


def new_console_key():
    """The C++ ConsoleSession's reply key: direct-console.<uuid>."""
    return "direct-console." + str(uuid.uuid4())
