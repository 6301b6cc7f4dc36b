"""keyboard_teleop: drive the robot from a terminal while graph_builder_node records (cmd_vel).

Keys (teleop_twist_keyboard layout, plus arrow keys):
    u i o      i/↑ forward, ,/↓ back, j/← turn left, l/→ turn right, u o m . = forward/back while turning
    j k l      k or space: stop
    m , .      q/z: all speeds x1.1 / x0.9   w/x: linear only   e/c: angular only   Ctrl-C: quit
The robot moves only while a key is held: terminals repeat a held key every ~30 ms after an initial
delay of ~0.5 s, so no key for `key_timeout` s (longer than that delay) means released -> stop. After
stopping it publishes zero for `stop_pub_timeout` s, then goes quiet so another source can drive.
The key handling (TeleopCore) is separate from the terminal (RawTerminal) and from ROS, for tests.
"""
from __future__ import annotations

import os
import select
import sys
import termios
import time
import tty
from dataclasses import dataclass, field

from rclpy.node import Node

from gnm_nav.ros import legacy_params
from gnm_nav.ros.cmd_vel import CmdVelPublisher
from gnm_nav.ros.params import ParamSpec, declare_parameters, legacy_values

# key -> (linear direction, angular direction)
MOVES: dict[str, tuple[int, int]] = {
    "i": (1, 0), "o": (1, -1), "j": (0, 1), "l": (0, -1), "u": (1, 1), ",": (-1, 0), ".": (-1, 1), "m": (-1, -1),
    "\x1b[A": (1, 0), "\x1b[B": (-1, 0), "\x1b[D": (0, 1), "\x1b[C": (0, -1),
}
STOP_KEYS = ("k", " ")
# key -> (linear factor, angular factor)
SPEED_KEYS: dict[str, tuple[float, float]] = {
    "q": (1.1, 1.1), "z": (0.9, 0.9), "w": (1.1, 1.0), "x": (0.9, 1.0), "e": (1.0, 1.1), "c": (1.0, 0.9),
}
PARAMS = [
    ParamSpec("enable_stamped_cmd_vel", True, "publish TwistStamped (true) or Twist (false)"),
    ParamSpec("frame_id", "base_link", "frame_id of TwistStamped commands"),
    ParamSpec("speed", 0.2, "initial forward speed, m/s"),
    ParamSpec("turn", 0.5, "initial turn rate, rad/s"),
    ParamSpec("max_speed", 1.0, "speed keys never exceed this, m/s"),
    ParamSpec("max_turn", 2.0, "speed keys never exceed this, rad/s"),
    ParamSpec("key_timeout", 0.6, "s without a key (held keys repeat) after which the robot stops"),
    ParamSpec("stop_pub_timeout", 1.0, "s of zero commands after stopping, then quiet"),
    ParamSpec("rate_hz", 10.0, "command publishing rate"),
]
LEGACY = legacy_params.TELEOP  # the 0.1 names it still answers to, for one release


@dataclass
class TeleopCore:
    """Keys in, (v, w) out; no terminal, no ROS."""

    speed: float = 0.2
    turn: float = 0.5
    max_speed: float = 1.0
    max_turn: float = 2.0
    key_timeout: float = 0.6
    stop_pub_timeout: float = 1.0
    _move: tuple[int, int] = field(default=(0, 0), init=False)
    _last_key: float | None = field(default=None, init=False)
    _stopped_at: float | None = field(default=float("-inf"), init=False)  # quiet until the first key

    def press(self, key: str, now: float) -> str:
        """Apply one key; returns a short status line (empty for an unknown key)."""
        if key in MOVES:
            self._move, self._last_key, self._stopped_at = MOVES[key], now, None
            return ""
        if key in STOP_KEYS:
            self._halt(now)
            return "stop"
        if key in SPEED_KEYS:
            fv, fw = SPEED_KEYS[key]
            self.speed = min(self.max_speed, self.speed * fv)
            self.turn = min(self.max_turn, self.turn * fw)
            return f"speed {self.speed:.2f} m/s, turn {self.turn:.2f} rad/s"
        return ""

    def _halt(self, now: float) -> None:
        if self._stopped_at is None:
            self._stopped_at = now
        self._move, self._last_key = (0, 0), None

    def command(self, now: float) -> tuple[float, float] | None:
        """The command to publish now, or None once stopped for longer than stop_pub_timeout."""
        if self._last_key is not None and now - self._last_key > self.key_timeout:
            self._halt(self._last_key + self.key_timeout)
        if self._stopped_at is not None:
            return (0.0, 0.0) if now - self._stopped_at <= self.stop_pub_timeout else None
        return self._move[0] * self.speed, self._move[1] * self.turn


def split_keys(data: str) -> list[str]:
    """Terminal input -> keys; arrow keys arrive as 3-character escape sequences."""
    keys, i = [], 0
    while i < len(data):
        if data.startswith("\x1b[", i) and i + 2 < len(data):
            keys.append(data[i:i + 3])
            i += 3
        else:
            keys.append(data[i])
            i += 1
    return keys


class RawTerminal:
    """Unbuffered, no-echo key input (Ctrl-C still interrupts); the terminal is restored on exit, whatever happens."""

    def __init__(self, fd: int) -> None:
        if not os.isatty(fd):
            raise OSError("keyboard_teleop needs an interactive terminal (stdin is not a tty); "
                          "run it with `ros2 run gnm_nav keyboard_teleop` in its own terminal")
        self.fd = fd
        self._saved: list | None = None

    def __enter__(self) -> "RawTerminal":
        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        return self

    def __exit__(self, *exc) -> None:
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def read(self, timeout: float) -> str:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        return os.read(self.fd, 64).decode(errors="ignore") if ready else ""


class TeleopNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("keyboard_teleop", **kwargs)
        legacy = legacy_values(self, LEGACY)
        p = declare_parameters(self, PARAMS, LEGACY)
        self.p = p
        self.core = TeleopCore(p["speed"], p["turn"], p["max_speed"], p["max_turn"], p["key_timeout"],
                               p["stop_pub_timeout"])
        self._cmd = CmdVelPublisher(self, legacy.topic("cmd_vel"), p["enable_stamped_cmd_vel"], p["frame_id"])

    def publish_command(self, now: float) -> tuple[float, float] | None:
        command = self.core.command(now)
        if command is not None:
            self._cmd.publish(*command)
        return command

    def publish_final_zero(self) -> None:
        self._cmd.publish_final_zero()


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    import rclpy
    from rclpy.signals import SignalHandlerOptions

    # Ctrl-C / SIGTERM only set a flag: the loop then ends between iterations, so a zero command still goes
    # out and rclpy is never interrupted half-way through a spin (a KeyboardInterrupt there could hang exit).
    rclpy.init(args=sys.argv if argv is None else argv, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    node = TeleopNode()
    print(__doc__.split("\n\n")[1], flush=True)
    try:
        with RawTerminal(sys.stdin.fileno()) as term:
            period = 1.0 / node.p["rate_hz"]
            next_pub = time.monotonic()
            while rclpy.ok() and not stop.is_set():
                for key in split_keys(term.read(max(0.0, next_pub - time.monotonic()))):
                    status = node.core.press(key, time.monotonic())
                    if status:
                        print(f"\r{status}          ", end="", flush=True)
                if time.monotonic() >= next_pub:
                    node.publish_command(time.monotonic())
                    next_pub += period
                rclpy.spin_once(node, timeout_sec=0.0)
    except OSError as exc:
        node.get_logger().error(str(exc))
        return 2
    finally:
        if rclpy.ok():
            node.publish_final_zero()  # never leave the robot moving
        node.destroy_node()
        rclpy.try_shutdown()
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
