"""Compatibility fixture, concurrency group: each check uses its package for real and raises if anything is off.

gevent monkey-patches the standard library (first thing when its check runs: nothing else here
imported threading's users yet), serves HTTP on 127.0.0.1 and fetches from it with patched sockets.
`compat-concurrency` runs every check and prints one line per package, then a summary line ending in
OK; `compat-concurrency NAME...` runs some; `compat-concurrency import NAME` only imports.
"""

from ._harness import check
from ._harness import main as _main


@check("gevent", "gevent", "gevent.monkey")
def check_gevent():
    from gevent import monkey

    monkey.patch_all()
    import socket
    import urllib.request

    import gevent
    from gevent.pool import Pool
    from gevent.pywsgi import WSGIServer

    assert monkey.is_module_patched("socket") and socket.socket is gevent.socket.socket

    def app(environ, start_response):
        gevent.sleep(0.2)  # every request waits: served concurrently 8 take ~0.2 s, one by one 1.6 s
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    try:
        port = server.server_port
        started = gevent.get_hub().loop.now()
        pool = Pool(8)
        bodies = pool.map(lambda i: urllib.request.urlopen(f"http://127.0.0.1:{port}/{i}", timeout=10).read(),
                          range(8))
        elapsed = gevent.get_hub().loop.now() - started
    finally:
        server.stop()
    assert bodies == [f"/{i}".encode() for i in range(8)], bodies
    assert elapsed < 1.0, f"8 requests took {elapsed:.2f} s: not concurrent"
    loop = type(gevent.get_hub().loop).__module__
    return f"monkey.patch_all, pywsgi on 127.0.0.1, 8 concurrent urlopen ({loop})"


@check("greenlet", "greenlet")
def check_greenlet():
    import greenlet

    trail = []

    def child(x):
        trail.append(x)
        y = main_greenlet.switch(x * 2)
        trail.append(y)
        return "done"

    main_greenlet = greenlet.getcurrent()
    g = greenlet.greenlet(child)
    assert g.switch(21) == 42 and g.switch("back") == "done" and g.dead
    assert trail == [21, "back"]

    def raiser():
        raise KeyError("x")

    try:
        greenlet.greenlet(raiser).switch()
        raise AssertionError("exception lost")
    except KeyError:
        pass
    return "switch, return values, exceptions across greenlets (C++ with libstdc++)"


# ---- the same harness in every compat fixture ----

def main():
    return _main("concurrency")
