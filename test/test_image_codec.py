"""Every camera encoding decodes to the right RGB, or is rejected with a clear error."""
import cv2
import numpy as np
import pytest

from gnm_nav.common.errors import ImageDecodeError
from gnm_nav.image_codec import decode_compressed, decode_raw, encode_rgb8

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)


def _raw(arr: np.ndarray, pad: int = 0) -> tuple[int, bytes]:
    rows = arr.reshape(arr.shape[0], -1)
    step = rows.shape[1] * rows.itemsize + pad
    padded = np.zeros((rows.shape[0], step), np.uint8)
    padded[:, : rows.shape[1] * rows.itemsize] = rows.view(np.uint8).reshape(rows.shape[0], -1)
    return step, padded.tobytes()


@pytest.mark.parametrize("encoding,payload", [
    ("rgb8", RGB), ("bgr8", RGB[:, :, ::-1]),
    ("rgba8", np.dstack([RGB, np.full(RGB.shape[:2], 7, np.uint8)])),
    ("bgra8", np.dstack([RGB[:, :, ::-1], np.full(RGB.shape[:2], 7, np.uint8)])),
])
@pytest.mark.parametrize("pad", [0, 4])
def test_colour_encodings_decode_exactly(encoding, payload, pad):
    step, data = _raw(np.ascontiguousarray(payload), pad)
    out = decode_raw(encoding, 6, 8, step, data)
    np.testing.assert_array_equal(out, RGB)


def test_mono_and_16_bit():
    mono = RGB[:, :, 0]
    step, data = _raw(mono)
    np.testing.assert_array_equal(decode_raw("mono8", 6, 8, step, data), np.dstack([mono] * 3))
    wide = mono.astype(np.uint16) << 8 | 0x5A
    for big in (False, True):
        arr = wide.astype(">u2" if big else "<u2")
        out = decode_raw("mono16", 6, 8, 16, arr.tobytes(), is_bigendian=big)
        np.testing.assert_array_equal(out[:, :, 1], mono)


def _bt601_video_range(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """RGB -> (Y, U, V) as a camera's YUV 4:2:2 output encodes it (BT.601, studio swing)."""
    r, g, b = (c / 255.0 for c in rgb)
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return tuple(int(round(c)) for c in (y, u, v))


@pytest.mark.parametrize("encoding", ["yuv422", "uyvy", "yuyv", "yuv422_yuy2"])
def test_yuv422_variants(encoding):
    flat = np.full((4, 8, 3), (200, 40, 90), np.uint8)  # constant colour: chroma subsampling is lossless
    y, u, v = _bt601_video_range((200, 40, 90))
    if encoding in ("yuv422", "uyvy"):  # ROS "yuv422" is UYVY byte order
        pixels = np.tile(np.array([u, y, v, y], np.uint8), (4, 4))
    else:  # YUYV
        pixels = np.tile(np.array([y, u, y, v], np.uint8), (4, 4))
    out = decode_raw(encoding, 4, 8, 16, pixels.tobytes())
    assert np.abs(out.astype(int) - flat.astype(int)).max() <= 3


def test_bayer_pattern_reconstructs_flat_colour():
    colour = (180, 90, 30)
    bayer = np.zeros((8, 8), np.uint8)
    bayer[0::2, 0::2], bayer[0::2, 1::2] = colour[0], colour[1]
    bayer[1::2, 0::2], bayer[1::2, 1::2] = colour[1], colour[2]
    out = decode_raw("bayer_rggb8", 8, 8, 8, bayer.tobytes())
    assert np.abs(out[2:-2, 2:-2].astype(int) - np.array(colour)).max() <= 2


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_compressed(ext):
    smooth = np.dstack(list(np.meshgrid(np.linspace(0, 255, 32), np.linspace(255, 0, 24))) + [np.full((24, 32), 60.0)])
    smooth = smooth.astype(np.uint8)  # R varies along x, G along y, B flat: JPEG keeps it close
    ok, buf = cv2.imencode(ext, cv2.cvtColor(smooth, cv2.COLOR_RGB2BGR))
    assert ok
    out = decode_compressed("rgb8; jpeg compressed bgr8" if ext == ".jpg" else "png", buf.tobytes())
    tolerance = 0 if ext == ".png" else 12
    assert out.shape == smooth.shape and np.abs(out.astype(int) - smooth.astype(int)).max() <= tolerance


@pytest.mark.parametrize("args,match", [
    (("32FC1", 6, 8, 32, b"\0" * 192), "unsupported image encoding"),
    (("rgb8", 0, 8, 24, b""), "zero size"),
    (("rgb8", 6, 8, 20, b"\0" * 120), "step 20 is smaller"),
    (("rgb8", 6, 8, 24, b"\0" * 100), "needs step\\*height = 144 bytes, got 100"),
    (("yuyv", 6, 7, 14, b"\0" * 84), "width must be even"),
])
def test_bad_raw_images_are_rejected(args, match):
    with pytest.raises(ImageDecodeError, match=match):
        decode_raw(*args)


def test_bad_compressed_images_are_rejected():
    with pytest.raises(ImageDecodeError, match="not a decodable"):
        decode_compressed("jpeg", b"not a jpeg at all")
    with pytest.raises(ImageDecodeError, match="empty"):
        decode_compressed("jpeg", b"")
    with pytest.raises(ImageDecodeError, match="depth"):
        decode_compressed("16UC1; compressedDepth", b"\x00" * 20)


def test_encode_round_trip():
    h, w, step, data = encode_rgb8(RGB)
    np.testing.assert_array_equal(decode_raw("rgb8", h, w, step, data), RGB)


def _png_declaring(width: int, height: int) -> bytes:
    """A small PNG file whose header declares width x height (its data are a few zero rows)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A real JPEG whose frame header is rewritten to declare width x height."""
    ok, buf = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    data = bytearray(buf.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def test_a_decompression_bomb_is_refused_from_its_header():
    from gnm_nav.image_codec import MAX_IMAGE_PIXELS, declared_size

    assert declared_size(_png_declaring(640, 480)) == (640, 480)
    assert declared_size(_jpeg_declaring(1920, 1080)) == (1920, 1080)
    ok, real = cv2.imencode(".jpg", np.zeros((24, 32, 3), np.uint8))
    assert declared_size(real.tobytes()) == (32, 24)
    for bomb in (_png_declaring(1 << 16, 1 << 15), _jpeg_declaring(65535, 65535)):  # 2^31 and 4.3e9 pixels
        with pytest.raises(ImageDecodeError, match="declares .* pixels, more than"):
            decode_compressed("png", bomb)
    with pytest.raises(ImageDecodeError, match="more than the 100"):
        decode_compressed("jpeg", real.tobytes(), max_pixels=100)
    assert MAX_IMAGE_PIXELS >= 4096 * 4096


def test_a_header_opencv_rejects_is_an_image_error_not_a_crash():
    broken = _png_declaring(0, 0)  # a zero-sized PNG makes cv2.imdecode raise cv2.error or return None
    with pytest.raises(ImageDecodeError):
        decode_compressed("png", broken)
