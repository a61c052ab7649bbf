"""Audio and video through PyAV: :mod:`~mmer.media.decode` reads files as players show them (with
every limit checked while decoding), :mod:`~mmer.media.encode` writes them. Nothing else in the
project talks to FFmpeg."""

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

__all__ = [
    "AUDIO_SAMPLE_RATE", "MP3_SAMPLE_RATE", "DecodeLimits", "Frame", "LimitExceeded", "MediaError", "MediaInfo",
    "NoAudioStream", "NoVideoStream", "PathLike", "SampledFrames", "VideoWriter", "clip_duration", "decode_audio",
    "decode_threads", "extract_audio", "iter_audio_segments", "iter_frames", "iter_frames_at", "keep_on_screen",
    "media_duration", "parse_bitrate", "probe", "sample_frames", "sample_times", "set_decode_threads", "video_fps",
    "write_audio", "write_video",
]
