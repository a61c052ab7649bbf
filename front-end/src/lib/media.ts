/** What the page can tell about a chosen file before the service reads its bytes. */

/** Extensions of the audio files the default model reads (a voice memo, a recording). */
export const AUDIO_EXTENSIONS = [".wav", ".mp3", ".flac", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".weba"];
export const VIDEO_EXTENSIONS = [".mp4", ".mov", ".m4v", ".3gp", ".webm", ".mkv", ".avi", ".flv", ".ts", ".mpg", ".mpeg"];
/** Photos the default model reads with its face expert (HEIC is not among them). */
export const IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"];
/**
 * Photo types listed one by one rather than as `image/*`: a phone then converts a HEIC photo to JPEG
 * as it hands it over, instead of passing on a format the service cannot read.
 */
export const IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/tiff"];

/**
 * The file input's `accept`: videos and audio recordings, by type and by the extensions browsers type
 * loosely, and photos where the served model reads them (`photos`, true unless the service says otherwise).
 */
export function acceptList(photos = true): string {
  return ["video/*", "audio/*", ...VIDEO_EXTENSIONS, ...AUDIO_EXTENSIONS, ...(photos ? [...IMAGE_TYPES, ...IMAGE_EXTENSIONS] : [])].join(",");
}

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

/**
 * Whether the file is a photo, by its type or, where the browser gave none, its name: the page then
 * shows the picture instead of a player. (The service decides from the bytes, as for any file.)
 */
export function isImageFile(file: { name: string; type: string }): boolean {
  if (file.type.startsWith("image/")) return true;
  if (file.type.startsWith("video/") || file.type.startsWith("audio/")) return false;
  return IMAGE_EXTENSIONS.includes(extension(file.name));
}
