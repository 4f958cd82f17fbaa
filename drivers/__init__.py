"""Camera drivers: real hardware (zwoasi, picamera2, onvif) and the simulated rig.

Nothing here imports a hardware SDK at import time; the registry imports a driver
module only when a camera of that driver is opened.
"""
