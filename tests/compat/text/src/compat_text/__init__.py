"""Compatibility fixture, validation and text group: each check uses its package for real and raises if
anything is off. The chroot it runs in has no /usr/share/zoneinfo: time zones come from package data.

`compat-text` runs every check and prints one line per package, then a summary line ending in OK;
`compat-text NAME...` runs some; `compat-text import NAME` only imports NAME's modules (start-up timing).
"""

import datetime

from ._harness import check
from ._harness import main as _main


@check("pydantic", "pydantic")
def check_pydantic():
    from pydantic import BaseModel, Field, ValidationError

    class Item(BaseModel):
        name: str = Field(min_length=1)
        price: float
        tags: list[str] = []
        when: datetime.date | None = None

    item = Item.model_validate_json('{"name": "a", "price": "1.5", "when": "2024-01-02"}')
    assert item.price == 1.5 and item.when == datetime.date(2024, 1, 2)
    assert Item.model_validate_json(item.model_dump_json()) == item
    try:
        Item(name="", price="x")
        raise AssertionError("invalid data accepted")
    except ValidationError as exc:
        assert exc.error_count() == 2, exc
    schema = Item.model_json_schema()
    assert schema["required"] == ["name", "price"], schema
    import pydantic_core

    return f"validation, JSON round trip, JSON schema (pydantic-core {pydantic_core.__version__})"


@check("jsonschema", "jsonschema")
def check_jsonschema():
    import jsonschema
    from jsonschema import Draft202012Validator
    from jsonschema_specifications import REGISTRY

    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
              "properties": {"age": {"type": "integer", "minimum": 0}}, "required": ["age"]}
    Draft202012Validator.check_schema(schema)  # validated against the meta-schema from package data
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert validator.is_valid({"age": 3}) and not validator.is_valid({"age": -1})
    errors = sorted(e.message for e in validator.iter_errors({}))
    assert errors == ["'age' is a required property"], errors
    try:
        jsonschema.validate({"age": "x"}, {"$schema": "http://json-schema.org/draft-07/schema#",
                                           "properties": {"age": {"type": "integer"}}})
        raise AssertionError("draft-07 validation accepted a string")
    except jsonschema.ValidationError:
        pass
    metas = [uri for uri in REGISTRY if "json-schema.org" in uri]
    assert len(metas) >= 10, metas
    return f"draft 2020-12 and 07, {len(metas)} meta-schemas from package data"


@check("babel", "babel.dates", "babel.numbers")
def check_babel():
    from babel import Locale, localedata
    from babel.dates import format_date, format_datetime
    from babel.numbers import format_currency

    day = datetime.date(2024, 3, 1)
    assert format_date(day, format="long", locale="de_DE") == "1. März 2024", format_date(day, "long", "de_DE")
    assert format_currency(1234.5, "EUR", locale="fr_FR") == "1\u202f234,50\xa0€", format_currency(1234.5, "EUR",
                                                                                                    locale="fr_FR")
    assert Locale.parse("ja_JP").get_display_name("en") == "Japanese (Japan)"
    moment = datetime.datetime(2024, 7, 1, 12, 0, tzinfo=datetime.UTC)
    tokyo = format_datetime(moment, "HH:mm zzzz", tzinfo="Asia/Tokyo", locale="en")
    assert tokyo == "21:00 Japan Standard Time", tokyo
    locales = localedata.locale_identifiers()
    assert len(locales) > 500, len(locales)
    return f"dates, currency, time zones, {len(locales)} locales of CLDR data"


@check("python-dateutil", "dateutil.parser", "dateutil.tz", "dateutil.rrule")
def check_dateutil():
    from dateutil import parser, rrule, tz
    from dateutil.relativedelta import relativedelta

    parsed = parser.parse("Sat, 2 Mar 2024 10:15:00 +0100")
    assert parsed.utcoffset() == datetime.timedelta(hours=1)
    assert datetime.date(2024, 1, 31) + relativedelta(months=1) == datetime.date(2024, 2, 29)
    fridays = list(rrule.rrule(rrule.WEEKLY, byweekday=rrule.FR, count=3, dtstart=datetime.datetime(2024, 3, 1)))
    assert [d.day for d in fridays] == [1, 8, 15]
    berlin = tz.gettz("Europe/Berlin")
    assert berlin is not None, "no tz database"
    summer = datetime.datetime(2024, 7, 1, tzinfo=berlin)
    assert summer.utcoffset() == datetime.timedelta(hours=2) and summer.tzname() == "CEST", summer.tzname()
    return f"parser, relativedelta, rrule, gettz ({type(berlin).__name__})"


@check("pytz", "pytz")
def check_pytz():
    import pytz

    tokyo = pytz.timezone("Asia/Tokyo")
    eastern = pytz.timezone("US/Eastern")
    local = eastern.localize(datetime.datetime(2024, 3, 10, 1, 30))
    later = eastern.normalize(local + datetime.timedelta(hours=1))
    assert later.hour == 3 and later.tzname() == "EDT", later
    assert later.astimezone(tokyo).strftime("%H:%M %Z") == "16:30 JST", later.astimezone(tokyo)
    assert len(pytz.all_timezones) > 500 and "Europe/Paris" in pytz.common_timezones
    return f"localize/normalize across DST, {len(pytz.all_timezones)} zones (bundled database {pytz.OLSON_VERSION})"


@check("tzdata", "zoneinfo", "tzdata")
def check_tzdata():
    import zoneinfo

    zoneinfo.reset_tzpath([])  # no system database, even on a host that has one: tzdata only
    sao_paulo = zoneinfo.ZoneInfo("America/Sao_Paulo")
    moment = datetime.datetime(2024, 1, 15, 12, tzinfo=sao_paulo)
    assert moment.utcoffset() == datetime.timedelta(hours=-3), moment.utcoffset()
    paris = datetime.datetime(2024, 7, 1, 12, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    assert paris.tzname() == "CEST"
    zones = zoneinfo.available_timezones()
    assert len(zones) > 400 and "Asia/Kolkata" in zones, len(zones)
    import tzdata

    return f"ZoneInfo from tzdata {tzdata.IANA_VERSION}, {len(zones)} zones"


@check("regex", "regex")
def check_regex():
    import regex

    assert regex.fullmatch(r"\p{Greek}+", "αβγ") and not regex.fullmatch(r"\p{Greek}+", "abc")
    assert regex.search(r"(?:amber){e<=1}", "I like ambre").group() in ("ambre", "ambr", "mbre")
    assert regex.findall(r"\X", "e\u0301a") == ["e\u0301", "a"]  # grapheme clusters
    assert regex.sub(r"(?<word>\w+)", r"<\g<word>>", "a b", flags=regex.V1) == "<a> <b>"
    return "Unicode properties, fuzzy matching, grapheme clusters"


@check("charset-normalizer", "charset_normalizer")
def check_charset_normalizer():
    import charset_normalizer
    from charset_normalizer import from_bytes

    # Letters that every Latin single-byte code page detection may settle on agree about.
    text = "Größere Übungen für Bäcker, Müller und Schüler sind äußerst nützlich, die Straße ist schön."
    best = from_bytes(text.encode("cp1252")).best()
    assert best is not None and str(best) == text, best
    japanese = "日本語のテキストを正しく判定できるかどうかを確認します。これは文字コードの検出テストです。"
    detected = from_bytes(japanese.encode("shift_jis")).best()
    assert detected is not None and str(detected) == japanese, detected and detected.encoding
    compiled = charset_normalizer.md.__file__.endswith(".so")
    kind = "compiled" if compiled else "pure Python"
    return f"German cp1252 text read as {best.encoding}, Japanese Shift JIS as {detected.encoding} ({kind})"


# ---- the same harness in every compat fixture ----

def main():
    return _main("text")
