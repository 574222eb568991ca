// Keys for a terminal's websocket, as messages the server takes (64 KiB
// at most): a long paste goes in pieces of 8192 characters, each under
// 48 KiB however it is encoded, and never splits a character.
"use strict";
window.keyMessages = function (data) {
  const characters = Array.from(data);
  const messages = [];
  for (let at = 0; at < characters.length; at += 8192) {
    messages.push(JSON.stringify({ t: "in", d: characters.slice(at, at + 8192).join("") }));
  }
  return messages;
};
