// An entry of its own in a build (chunks/plugin.ts, sessionFirst, puts its
// script before main.tsx's in index.html; main.tsx imports it too, for the dev server): a
// small chunk, run as soon as it arrives, so the session's refresh (a round trip every
// signed-in screen waits for) leaves while the app's modules (React,
// Mantine, the shell, every feature's routes) still download and run, and
// the first screen's reads can start when they do. The modules that listen
// to the session read its state when they start (live/connection.ts
// connects when a topic is followed; the queries ask for a token), so an
// answer that comes before them loses nothing.
import { startSession } from "./session";

startSession();
