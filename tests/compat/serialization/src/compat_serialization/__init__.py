"""Compatibility fixture, serialization group: each check uses its package for real (the C
implementations, not the pure-Python fallbacks) and raises if anything is off.

`compat-serialization` runs every check and prints one line per package, then a summary line ending
in OK; `compat-serialization NAME...` runs some; `compat-serialization import NAME` only imports.
"""

import datetime

from ._harness import check
from ._harness import main as _main


@check("pyyaml", "yaml")
def check_pyyaml():
    import yaml

    assert yaml.__with_libyaml__, "the libyaml extension did not load"
    text = "name: amber\nsizes: [1, 2.5, null]\nnested: {a: true, when: 2024-01-02}\n"
    data = yaml.load(text, Loader=yaml.CSafeLoader)
    assert data == {"name": "amber", "sizes": [1, 2.5, None], "nested": {"a": True, "when": datetime.date(2024, 1, 2)}}
    assert yaml.load(yaml.dump(data, Dumper=yaml.CSafeDumper), Loader=yaml.CSafeLoader) == data
    return "CSafeLoader/CSafeDumper (libyaml) round trip"


@check("orjson", "orjson")
def check_orjson():
    import dataclasses

    import orjson

    @dataclasses.dataclass
    class Point:
        x: int
        when: datetime.datetime

    when = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    raw = orjson.dumps({"p": Point(1, when), "b": 2}, option=orjson.OPT_SORT_KEYS)
    assert raw == b'{"b":2,"p":{"x":1,"when":"2024-01-02T03:04:05+00:00"}}', raw
    assert orjson.loads(raw)["p"]["x"] == 1
    return "dataclass and datetime serialization, sorted keys"


@check("msgpack", "msgpack")
def check_msgpack():
    import msgpack

    assert msgpack.Packer.__module__ == "msgpack._cmsgpack", msgpack.Packer.__module__
    data = {"a": [1, 2, {"b": b"\x00\xff"}], "t": msgpack.Timestamp(1, 5)}
    packed = msgpack.packb(data)
    assert msgpack.unpackb(packed) == data
    unpacker = msgpack.Unpacker()
    unpacker.feed(packed + msgpack.packb(7))
    assert list(unpacker) == [data, 7]
    return f"C extension, streaming unpacker ({len(packed)} bytes)"


@check("protobuf", "google.protobuf")
def check_protobuf():
    from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory, timestamp_pb2
    from google.protobuf.internal import api_implementation

    proto = descriptor_pb2.FileDescriptorProto(name="compat.proto", package="compat", syntax="proto3")
    message = proto.message_type.add(name="Item")
    message.field.add(name="name", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                      label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    message.field.add(name="ids", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
                      label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    Item = message_factory.GetMessageClass(pool.FindMessageTypeByName("compat.Item"))
    item = Item(name="amber", ids=[1, 2, 3])
    assert Item.FromString(item.SerializeToString()) == item
    assert json_format.MessageToDict(item) == {"name": "amber", "ids": ["1", "2", "3"]}
    stamp = timestamp_pb2.Timestamp()
    stamp.FromJsonString("2024-01-02T03:04:05Z")
    assert stamp.seconds == 1704164645
    backend = api_implementation.Type()
    assert backend == "upb", f"protobuf's {backend} backend, not its C one (upb)"
    return f"dynamic message, wire and JSON formats, well-known types ({backend} backend)"


@check("lxml", "lxml.etree")
def check_lxml():
    from lxml import etree, html

    root = etree.fromstring("<a><b x='1'/><b x='2'/></a>")
    assert root.xpath("//b/@x") == ["1", "2"]
    xslt = etree.XSLT(etree.fromstring(
        "<xsl:stylesheet version='1.0' xmlns:xsl='http://www.w3.org/1999/XSL/Transform'>"
        "<xsl:template match='/'><n><xsl:value-of select='count(//b)'/></n></xsl:template></xsl:stylesheet>"))
    assert str(xslt(root)).strip().endswith("<n>2</n>")
    schema = etree.XMLSchema(etree.fromstring(
        "<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'><xs:element name='n' type='xs:int'/></xs:schema>"))
    assert schema.validate(etree.fromstring("<n>2</n>")) and not schema.validate(etree.fromstring("<n>x</n>"))
    page = html.fromstring("<p>Hello <b>amber</b><br>")
    assert page.text_content() == "Hello amber"
    return f"XPath, XSLT, XML Schema, HTML parser (libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))})"


# ---- the same harness in every compat fixture ----

def main():
    return _main("serialization")
