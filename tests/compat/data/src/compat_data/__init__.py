"""Compatibility fixture, data group: each check uses its package for real and raises if anything is off.

`compat-data` runs every check and prints one line per package, then a summary line ending in OK;
`compat-data NAME...` runs some; `compat-data import NAME` only imports NAME's modules (start-up timing).
"""

import io
import os
import sys

from ._harness import check
from ._harness import main as _main


@check("numpy", "numpy")
def check_numpy():
    import numpy as np

    a = np.arange(12.0).reshape(3, 4)
    assert float((a @ a.T).sum()) == 1134.0
    m = np.array([[2.0, 1.0], [1.0, 3.0]])
    assert np.allclose(np.linalg.inv(m) @ m, np.eye(2))
    assert np.allclose(sorted(np.linalg.eigvalsh(np.diag([3.0, 1.0, 2.0]))), [1, 2, 3])
    spectrum = np.abs(np.fft.rfft(np.sin(2 * np.pi * 5 * np.arange(64) / 64)))
    assert int(np.argmax(spectrum)) == 5
    sample = np.random.default_rng(42).normal(size=20000)
    assert abs(sample.mean()) < 0.05 and abs(sample.std() - 1) < 0.05
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    return f"matmul, inv, eigvalsh ({blas}), rfft, PCG64 normals"


@check("pandas", "pandas")
def check_pandas():
    from datetime import timedelta

    import pandas as pd

    # 01:30 EST + 1 h crosses the spring-forward gap: 03:30 EDT (needs the tz database from tzdata).
    ts = pd.Timestamp("2024-03-10 01:30", tz="America/New_York") + pd.Timedelta(hours=1)
    assert ts.hour == 3 and ts.utcoffset() == timedelta(hours=-4), ts
    assert str(ts.tz_convert("Europe/Paris")) == "2024-03-10 08:30:00+01:00", ts.tz_convert("Europe/Paris")
    days = pd.date_range("2024-10-26", periods=3, freq="D", tz="Europe/London")
    assert [d.utcoffset().total_seconds() for d in days] == [3600, 3600, 0], days  # BST ends 27 Oct, 01:00 UTC
    df = pd.DataFrame({"k": ["a", "b", "a"], "v": [1, 2, 3], "t": days})
    assert df.groupby("k")["v"].sum().to_dict() == {"a": 4, "b": 2}
    back = pd.read_csv(io.StringIO(df.to_csv(index=False)))
    when = pd.to_datetime(back["t"], utc=True).dt.tz_convert("Europe/London")  # mixed offsets in the text
    assert back["v"].tolist() == [1, 2, 3] and list(when) == list(days), back
    return f"DST-aware Timestamp ({ts.isoformat()}), groupby, CSV round trip"


@check("scipy", "scipy.linalg", "scipy.optimize", "scipy.integrate", "scipy.special", "scipy.stats", "scipy.sparse")
def check_scipy():
    import numpy as np
    from scipy import integrate, linalg, optimize, sparse, special, stats
    from scipy.sparse import linalg as splinalg

    assert np.allclose(linalg.solve([[3.0, 2.0], [1.0, 2.0]], [2.0, -2.0]), [2.0, -2.0])
    result = optimize.minimize(lambda p: (p[0] - 1) ** 2 + (p[1] + 2) ** 2, [0.0, 0.0])
    assert np.allclose(result.x, [1, -2], atol=1e-4), result.x
    value, _ = integrate.quad(np.sin, 0, np.pi)
    assert abs(value - 2) < 1e-9 and special.gamma(5) == 24 and stats.norm.cdf(0) == 0.5
    system = sparse.csr_matrix(np.diag([2.0, 4.0, 8.0]))
    assert np.allclose(splinalg.spsolve(system, np.array([2.0, 4.0, 8.0])), [1, 1, 1])
    return "solve (LAPACK), minimize, quad, gamma, norm.cdf, sparse spsolve"


@check("matplotlib", "matplotlib", "matplotlib.pyplot")
def check_matplotlib():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib import font_manager

    fig = plt.figure(figsize=(2, 1), dpi=100)
    fig.text(0.5, 0.5, "amber", ha="center", va="center", fontsize=20)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    inked = int((pixels.min(axis=2) < 128).sum())
    assert inked > 100, f"the text left {inked} dark pixels"  # FreeType rendered the glyphs
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n" and len(buf.getvalue()) > 1000
    font = font_manager.findfont("DejaVu Sans", fallback_to_default=False)
    assert os.path.isfile(font) and font.startswith(sys.executable + "/"), font  # FreeType opens it in the binary
    return f"Agg PNG with text ({inked} inked pixels), fonts read from the binary"


@check("pillow", "PIL.Image", "PIL.ImageDraw", "PIL.ImageFont")
def check_pillow():
    from PIL import Image, ImageDraw, ImageFont, features

    sizes = []
    for fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        buf = io.BytesIO()
        Image.new("RGB", (16, 8), (255, 0, 0)).save(buf, fmt)
        image = Image.open(io.BytesIO(buf.getvalue()))
        assert image.size == (16, 8) and image.getpixel((1, 1))[0] > 200, (fmt, image.getpixel((1, 1)))
        sizes.append(f"{fmt}")
    canvas = Image.new("L", (120, 40), 0)
    ImageDraw.Draw(canvas).text((4, 4), "amber", fill=255, font=ImageFont.load_default(size=24))
    assert features.check("freetype2") and canvas.getbbox() is not None, "FreeType drew nothing"
    return f"{'/'.join(sizes)} round trips, FreeType text"


@check("pyarrow", "pyarrow", "pyarrow.parquet", "pyarrow.compute")
def check_pyarrow():
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pa.table({"n": [1, 2, 3], "s": ["a", "b", "c"]})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    assert pq.read_table(io.BytesIO(buf.getvalue())).equals(table)
    assert pc.sum(table["n"]).as_py() == 6 and pc.utf8_upper(table["s"]).to_pylist() == ["A", "B", "C"]
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    assert pa.ipc.open_stream(sink.getvalue()).read_all().equals(table)
    assert table.to_pandas()["n"].sum() == 6
    return "Parquet (zstd) and IPC round trips, compute kernels, to_pandas"


# ---- the same harness in every compat fixture ----

def main():
    return _main("data")
