"""A camera command for the pipe source's tests: writes visitors (FER2013 faces on 640x480 gray
canvases, as tests/common frame_with_face composes them) to standard output, then exits.

    python tests/frame_generator.py --format mjpeg|grey|i420 [--fps 15] [--hold 10] [--gap 5] FACE...

MJPEG: every other frame has no Huffman tables (as UVC webcams send them); in each visitor one
frame is garbage between JPEG markers and one is cut short (its end marker missing).
"""

import argparse
import io
import sys
import time

from PIL import Image


def canvas_with(face_path, side=240):
    f = Image.open(face_path).convert("L")
    pad = f.width // 4
    padded = Image.new("L", (f.width + 2 * pad, f.height + 2 * pad))
    # Edge pixels repeated, as the Rust helper does.
    for y in range(padded.height):
        for x in range(padded.width):
            sx = min(max(x - pad, 0), f.width - 1)
            sy = min(max(y - pad, 0), f.height - 1)
            padded.putpixel((x, y), f.getpixel((sx, sy)))
    big = padded.resize((side, side), Image.BICUBIC)
    c = Image.new("L", (640, 480), 110)
    c.paste(big, (320 - side // 2, 240 - side // 2))
    return c


def strip_dht(j):
    out, i = bytearray(j[:2]), 2
    while i + 4 <= len(j) and j[i] == 0xFF and j[i + 1] != 0xDA:
        n = int.from_bytes(j[i + 2:i + 4], "big")
        if j[i + 1] != 0xC4:
            out += j[i:i + 2 + n]
        i += 2 + n
    return bytes(out + j[i:])


def jpeg(img):
    b = io.BytesIO()
    img.convert("RGB").save(b, "JPEG", quality=85, subsampling=1)  # 4:2:2, standard tables
    return b.getvalue()


def encode(img, fmt, k):
    if fmt == "grey":
        return img.tobytes()
    if fmt == "i420":
        return img.tobytes() + bytes([128]) * (2 * 320 * 240)
    j = jpeg(img)
    if k % 2 == 1:
        j = strip_dht(j)
    return j


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--format", required=True, choices=["mjpeg", "grey", "i420"])
    ap.add_argument("--fps", type=float, default=15)
    ap.add_argument("--hold", type=int, default=10)
    ap.add_argument("--gap", type=int, default=5)
    ap.add_argument("faces", nargs="+")
    a = ap.parse_args()
    out = sys.stdout.buffer
    empty = Image.new("L", (640, 480), 110)
    k = 0
    for face in a.faces:
        img = canvas_with(face)
        for i in range(a.hold + a.gap):
            frame = encode(img if i < a.hold else empty, a.format, k)
            if a.format == "mjpeg" and i == 2:
                frame = b"\xff\xd8" + bytes((x * 37 + 11) % 251 for x in range(4000)) + b"\xff\xd9"
            if a.format == "mjpeg" and i == 5:
                frame = frame[: len(frame) // 2]
            out.write(frame)
            out.flush()
            k += 1
            time.sleep(1 / a.fps)
    print(f"generator: {k} frames written", file=sys.stderr)


if __name__ == "__main__":
    main()
