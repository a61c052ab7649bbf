/** What the page can tell about a chosen file before the service reads its bytes. */

/** Extensions of the audio files the default model reads (a voice memo, a recording). */
export const AUDIO_EXTENSIONS = [".wav", ".mp3", ".flac", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".weba"];
export const VIDEO_EXTENSIONS = [".mp4", ".mov", ".m4v", ".3gp", ".webm", ".mkv", ".avi", ".flv", ".ts", ".mpg", ".mpeg"];

/** The file input's `accept`: videos and audio recordings, by type and by the extensions browsers type loosely. */
export const ACCEPT = ["video/*", "audio/*", ...VIDEO_EXTENSIONS, ...AUDIO_EXTENSIONS].join(",");

function extension(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot >= 0 ? name.slice(dot).toLowerCase() : "";
}

/**
 * Whether the file is sound only, going by its type, or by its name where the browser gave no
 * type. (The service decides from the bytes; this only chooses between an audio and a video player.)
 */
export function isAudioFile(file: { name: string; type: string }): boolean {
  if (file.type.startsWith("audio/")) return true;
  if (file.type.startsWith("video/")) return false;
  return AUDIO_EXTENSIONS.includes(extension(file.name));
}
