/**
 * The Debian 12 package that ships each GStreamer element ditto-gst uses, so `doctor` can say what to
 * install. Elements not listed fall back to a hint naming the usual plugin sets.
 */
const BY_PACKAGE: Record<string, readonly string[]> = {
  'libgstreamer1.0-0': ['filesrc', 'filesink', 'fakesink', 'queue', 'capsfilter', 'identity', 'tee', 'typefind'],
  'gstreamer1.0-plugins-base': [
    'appsrc', 'appsink', 'audioconvert', 'audioresample', 'videoconvert', 'videoscale', 'decodebin', 'uridecodebin',
    'opusenc', 'opusdec', 'vorbisenc', 'vorbisdec', 'oggdemux', 'oggmux', 'audiotestsrc', 'videotestsrc', 'audiomixer',
  ],
  'gstreamer1.0-plugins-good': [
    'vp8enc', 'vp8dec', 'rtpvp8pay', 'rtpvp8depay', 'rtpopuspay', 'rtpopusdepay', 'rtph264pay', 'rtph264depay', 'rtpbin',
    'capssetter', 'progressreport', 'wavparse', 'wavenc', 'flacdec', 'flacenc', 'flacparse', 'aacparse', 'mpegaudioparse',
    'qtdemux', 'mp4mux', 'qtmux', 'matroskademux', 'matroskamux', 'webmmux', 'pngdec', 'pngenc', 'jpegdec', 'jpegenc',
    'id3demux', 'lamemp3enc', 'mpg123audiodec', 'rtpjitterbuffer', 'udpsrc', 'udpsink',
  ],
  'gstreamer1.0-plugins-bad': ['webrtcbin', 'dtlssrtpenc', 'dtlssrtpdec', 'srtpenc', 'srtpdec', 'h264parse', 'webpdec', 'webpenc', 'opusparse', 'voaacenc'],
  'gstreamer1.0-plugins-ugly': ['x264enc'],
  'gstreamer1.0-libav': ['avenc_aac', 'avdec_aac', 'avdec_h264', 'avdec_mp3'],
  'gstreamer1.0-nice': ['nicesrc', 'nicesink'],
};

const PACKAGE_OF = new Map(Object.entries(BY_PACKAGE).flatMap(([pkg, elements]) => elements.map((e) => [e, pkg] as const)));

/** "apt-get install <package>" advice for a missing element. */
export function debianPackageFor(element: string): string | null {
  if (element === 'dittotalkinghead') return null; // ours: built from plugins/, not packaged
  return PACKAGE_OF.get(element) ?? null;
}
