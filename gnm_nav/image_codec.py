"""Decode camera image payloads (sensor_msgs/Image and CompressedImage fields) to RGB uint8.

ROS-free: node shells pass the message fields in. Every encoding is either decoded correctly or
rejected with an ImageDecodeError naming the problem, so an odd camera never gets misread.
"""
from __future__ import annotations

import cv2
import numpy as np

from gnm_nav.common.errors import ImageDecodeError

# encoding -> (channels, bytes per channel); pixel layout handled in _to_rgb
_LAYOUTS: dict[str, tuple[int, int]] = {
    "rgb8": (3, 1), "bgr8": (3, 1), "rgba8": (4, 1), "bgra8": (4, 1), "mono8": (1, 1), "8uc1": (1, 1),
    "8uc3": (3, 1), "8uc4": (4, 1),
    "rgb16": (3, 2), "bgr16": (3, 2), "rgba16": (4, 2), "bgra16": (4, 2), "mono16": (1, 2), "16uc1": (1, 2),
    "yuv422": (2, 1), "uyvy": (2, 1), "yuv422_yuy2": (2, 1), "yuyv": (2, 1),
    "bayer_rggb8": (1, 1), "bayer_bggr8": (1, 1), "bayer_gbrg8": (1, 1), "bayer_grbg8": (1, 1),
    "bayer_rggb16": (1, 2), "bayer_bggr16": (1, 2), "bayer_gbrg16": (1, 2), "bayer_grbg16": (1, 2),
}
# OpenCV names Bayer patterns by the second row; these map the ROS (first-row) names.
_BAYER = {"rggb": cv2.COLOR_BayerBG2RGB, "bggr": cv2.COLOR_BayerRG2RGB,
          "gbrg": cv2.COLOR_BayerGR2RGB, "grbg": cv2.COLOR_BayerGB2RGB}

SUPPORTED_ENCODINGS = tuple(sorted(_LAYOUTS))
MAX_IMAGE_PIXELS = 1 << 25  # 33.5 megapixels: above any camera fed to the GNM, far below a decompression bomb
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def decode_raw(encoding: str, height: int, width: int, step: int, data: bytes | bytearray | memoryview | np.ndarray,
               is_bigendian: bool = False) -> np.ndarray:
    """sensor_msgs/Image fields -> HxWx3 uint8 RGB (a new array)."""
    enc = encoding.strip().lower()
    if enc not in _LAYOUTS:
        raise ImageDecodeError(f"unsupported image encoding {encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    if height <= 0 or width <= 0:
        raise ImageDecodeError(f"{encoding} image has zero size ({width}x{height})")
    channels, depth = _LAYOUTS[enc]
    if enc in ("yuv422", "uyvy", "yuv422_yuy2", "yuyv") and width % 2:
        raise ImageDecodeError(f"{encoding} image width must be even, got {width}")
    row_bytes = width * channels * depth
    if step < row_bytes:
        raise ImageDecodeError(f"{encoding} image step {step} is smaller than width*bytes per pixel = {row_bytes}")
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8).ravel()
    if buf.size != step * height:
        raise ImageDecodeError(f"{encoding} {width}x{height} image needs step*height = {step * height} bytes, "
                               f"got {buf.size}")
    rows = buf.reshape(height, step)[:, :row_bytes]
    if depth == 2:
        pixels = rows.copy().view(">u2" if is_bigendian else "<u2")
        pixels = (pixels >> 8).astype(np.uint8)  # keep the high byte: 8-bit precision is what the model sees
    else:
        pixels = rows
    return _to_rgb(enc, pixels.reshape(height, width, channels))


def _to_rgb(enc: str, img: np.ndarray) -> np.ndarray:
    base = enc.rstrip("0123456789")
    if base in ("rgb", "8uc"):
        if img.shape[2] == 1:
            return np.repeat(img, 3, axis=2)
        return np.ascontiguousarray(img[:, :, :3])
    if base == "rgba":
        return np.ascontiguousarray(img[:, :, :3])
    if base in ("bgr", "bgra"):
        return np.ascontiguousarray(img[:, :, 2::-1])
    if base in ("mono", "16uc"):
        return np.repeat(img, 3, axis=2)
    if enc in ("yuv422", "uyvy"):
        return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_YUV2RGB_UYVY)
    if enc in ("yuv422_yuy2", "yuyv"):
        return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_YUV2RGB_YUY2)
    if base.startswith("bayer_"):
        return cv2.cvtColor(np.ascontiguousarray(img[:, :, 0]), _BAYER[base[len("bayer_"):]])
    raise ImageDecodeError(f"unsupported image encoding {enc!r}")  # unreachable for entries of _LAYOUTS


def declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) a PNG or JPEG header declares, read without decoding; None when the header says nothing."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker in _JPEG_SOF and i + 9 <= len(data):
            return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        if marker == 0xDA or length < 2:  # image data starts without a frame header: nothing declared
            return None
        i += 2 + length
    return None


def decode_compressed(fmt: str, data: bytes | bytearray | memoryview,
                      max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """sensor_msgs/CompressedImage fields (format like 'jpeg' or 'rgb8; jpeg compressed bgr8') -> RGB. The size
    the header declares is checked before decoding: a decompression bomb is refused, never expanded."""
    lowered = fmt.lower()
    if "compresseddepth" in lowered:
        raise ImageDecodeError(f"compressed depth images are not camera images (format {fmt!r})")
    raw = bytes(data)
    if not raw:
        raise ImageDecodeError(f"empty compressed image (format {fmt!r})")
    size = declared_size(raw)
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageDecodeError(f"compressed image (format {fmt!r}) declares {size[0]}x{size[1]} pixels, more than "
                               f"the {max_pixels} a camera frame may have: not decoded")
    buf = np.frombuffer(raw, dtype=np.uint8)
    try:
        bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageDecodeError(f"compressed image (format {fmt!r}, {buf.size} bytes) cannot be decoded: "
                               f"{str(exc).strip().splitlines()[-1]}") from None
    if bgr is None:
        raise ImageDecodeError(f"compressed image (format {fmt!r}, {buf.size} bytes) is not a decodable JPEG/PNG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_rgb8(rgb: np.ndarray) -> tuple[int, int, int, bytes]:
    """RGB uint8 HxWx3 -> (height, width, step, data) for a sensor_msgs/Image with encoding rgb8."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageDecodeError(f"expected an HxWx3 uint8 RGB array, got {rgb.dtype} {rgb.shape}")
    h, w, _ = rgb.shape
    return h, w, w * 3, np.ascontiguousarray(rgb).tobytes()
