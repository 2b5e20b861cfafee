"""Compatibility fixture, databases group: each check uses its package for real and raises if anything is off.

No database server runs here: SQLAlchemy uses SQLite in a temporary file, and psycopg2's libpq tries a
closed port on 127.0.0.1 (the refusal proves libpq works end to end without leaving the machine).
`compat-databases` runs every check and prints one line per package, then a summary line ending in OK;
`compat-databases NAME...` runs some; `compat-databases import NAME` only imports NAME's modules.
"""

import os
import tempfile

from ._harness import check
from ._harness import main as _main


@check("sqlalchemy", "sqlalchemy", "sqlalchemy.orm")
def check_sqlalchemy():
    from sqlalchemy import ForeignKey, String, create_engine, func, select
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

    class Base(DeclarativeBase):
        pass

    class Author(Base):
        __tablename__ = "author"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50))
        books: Mapped[list["Book"]] = relationship(back_populates="author")

    class Book(Base):
        __tablename__ = "book"
        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str]
        author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))
        author: Mapped[Author] = relationship(back_populates="books")

    with tempfile.TemporaryDirectory() as data:
        engine = create_engine(f"sqlite:///{os.path.join(data, 'books.db')}")
        Base.metadata.create_all(engine)
        with Session(engine) as session:
            session.add(Author(name="amber", books=[Book(title="one"), Book(title="two")]))
            session.commit()
            count = session.scalar(select(func.count(Book.id)).join(Author).where(Author.name == "amber"))
            titles = sorted(b.title for b in session.scalars(select(Author)).one().books)
        engine.dispose()
    assert count == 2 and titles == ["one", "two"], (count, titles)
    from sqlalchemy.util._has_cython import HAS_CYEXTENSION, _all_cython_modules

    assert HAS_CYEXTENSION, "SQLAlchemy's compiled (Cython) modules did not load"
    return f"ORM relationships, join and count on SQLite, {len(_all_cython_modules())} Cython modules"


@check("psycopg2-binary", "psycopg2", "psycopg2.extensions")
def check_psycopg2():
    import socket

    import psycopg2
    import psycopg2.extensions

    version = psycopg2.extensions.libpq_version()
    assert version >= 100000, version
    assert psycopg2.extensions.QuotedString("it's").getquoted() == b"'it''s'"
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        psycopg2.connect(host="127.0.0.1", port=port, user="amber", dbname="amber", connect_timeout=5)
    except psycopg2.OperationalError as exc:
        assert "127.0.0.1" in str(exc) and "refused" in str(exc), exc
    else:
        raise AssertionError("connected to a closed port")
    return f"libpq {version // 10000}.{version % 10000}, quoting, connect refused by 127.0.0.1"


# ---- the same harness in every compat fixture ----

def main():
    return _main("databases")
