// The desktop's sound in the Guacamole viewer. guacamole-common-js's audio player
// (Guacamole.AudioPlayer → RawAudioPlayer) plays each stream guacd sends; mute and volume sit
// between it and the speakers, remembered in this browser. Only the owner's connections carry
// sound (the broker's grant says `sound`); the controls show for those alone.
import { AudioContextFactory, AudioPlayer } from "@glokon/guacamole-common-js";

const STORAGE_KEY = "deskbroker.sound";
const DEFAULTS = { muted: false, volume: 80 }; // volume in percent

function remembered() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || "{}");
    const volume = Number.isFinite(saved.volume) ? Math.min(100, Math.max(0, saved.volume)) : DEFAULTS.volume;
    return { muted: saved.muted === true, volume };
  } catch {
    return { ...DEFAULTS }; // storage disabled or spoilt: the defaults
  }
}

function remember(settings) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(settings));
  } catch {
    // storage disabled: the choice lasts this page
  }
}

/**
 * The page's one AudioContext, shared with guacamole-common-js. RawAudioPlayer plays into its
 * context's `destination`; this context hands it a gain node (the volume) instead, the rest of
 * the real context as it is.
 */
function outputWithVolume() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return null;
  const context = new Context();
  const gain = context.createGain();
  gain.connect(context.destination);
  AudioContextFactory.singleton = new Proxy(context, {
    get(target, name) {
      if (name === "destination") return gain;
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { context, gain };
}

export function createSound({ controls, muteButton, volumeInput }) {
  const settings = remembered();
  let output = null; // made with the first connection that carries sound

  function apply() {
    muteButton.setAttribute("aria-pressed", String(settings.muted));
    volumeInput.value = String(settings.volume);
    volumeInput.disabled = settings.muted;
    if (output) output.gain.gain.value = settings.muted ? 0 : settings.volume / 100;
  }

  // Browsers start an AudioContext made without a click suspended: the first click or key resumes it.
  const resume = () => {
    if (output?.context.state === "suspended") output.context.resume().catch(() => {});
  };
  for (const type of ["pointerdown", "keydown"]) window.addEventListener(type, resume, true);

  muteButton.addEventListener("click", () => {
    settings.muted = !settings.muted;
    remember(settings);
    apply();
  });
  volumeInput.addEventListener("input", () => {
    settings.volume = Number(volumeInput.value);
    remember(settings);
    apply();
  });
  apply();

  return {
    /** A connection opens: `carriesSound` from its grant. The controls show while it does. */
    connection(carriesSound) {
      controls.hidden = !carriesSound;
      if (carriesSound && !output) {
        output = outputWithVolume();
        apply();
        resume();
      }
    },
    /**
     * The client's `onaudio`: a player for guacd's stream (audio/L16;rate=44100,channels=2). A
     * connection without sound plays none (a bare AudioPlayer: the client would play what gets null).
     */
    player(stream, mimetype) {
      return output ? AudioPlayer.getInstance(stream, mimetype) : new AudioPlayer();
    },
  };
}
