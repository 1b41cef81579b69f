// On /start/<type>, loaded ahead of the viewer's bundle: asks for the desktop's start at once,
// so the desktop starts while the rest of the viewer loads (launch.js takes the answer).
import { startEarly } from "./launch.js";

const type = document.querySelector('meta[name="start-type"]')?.content;
if (type) startEarly(type);
