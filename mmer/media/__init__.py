"""Audio and video through PyAV: :mod:`~mmer.media.decode` reads files as players show them (with
every limit checked while decoding), :mod:`~mmer.media.encode` writes them. Nothing else in the
project talks to FFmpeg. Photos are read by Pillow in :mod:`~mmer.media.image` (sniffed, size-checked
before decoding, turned upright by EXIF)."""

from mmer.media.decode import (
    AUDIO_SAMPLE_RATE,
    DecodeLimits,
    Frame,
    LimitExceeded,
    MediaError,
    MediaInfo,
    NoAudioStream,
    NoVideoStream,
    PathLike,
    SampledFrames,
    clip_duration,
    decode_audio,
    decode_threads,
    iter_audio_segments,
    iter_frames,
    iter_frames_at,
    keep_on_screen,
    media_duration,
    probe,
    sample_frames,
    sample_times,
    set_decode_threads,
    video_fps,
)
from mmer.media.encode import MP3_SAMPLE_RATE, VideoWriter, extract_audio, parse_bitrate, write_audio, write_video
from mmer.media.image import IMAGE_CONTAINERS, Photo, image_format, read_image, sniff_image

__all__ = [
    "AUDIO_SAMPLE_RATE", "IMAGE_CONTAINERS", "MP3_SAMPLE_RATE", "DecodeLimits", "Frame", "LimitExceeded",
    "MediaError", "MediaInfo", "NoAudioStream", "NoVideoStream", "PathLike", "Photo", "SampledFrames", "VideoWriter",
    "clip_duration", "decode_audio", "decode_threads", "extract_audio", "image_format", "iter_audio_segments",
    "iter_frames", "iter_frames_at", "keep_on_screen", "media_duration", "parse_bitrate", "probe", "read_image",
    "sample_frames", "sample_times", "set_decode_threads", "sniff_image", "video_fps", "write_audio", "write_video",
]
