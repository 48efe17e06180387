// A minimal terminal screen for tests that run the CLI in a pseudo-terminal: replays what a
// program wrote (text, CR/LF, cursor save/restore, cursor column/moves, erase in line/display)
// onto a grid and returns the rows as they would be seen. The screen grows downwards without
// scrolling, so saved cursor rows stay put as on a screen with room below.
export function renderScreen(raw: string): string[] {
  const rows: string[][] = [[]];
  let r = 0;
  let c = 0;
  let saved = { r: 0, c: 0 };
  const row = (i: number) => {
    while (rows.length <= i) rows.push([]);
    return rows[i]!;
  };
  const chars = [...raw];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === "\x1b") {
      const next = chars[i + 1];
      if (next === "7") { saved = { r, c }; i++; continue; }
      if (next === "8") { ({ r, c } = saved); i++; continue; }
      if (next !== "[") throw new Error(`unsupported escape ESC ${next}`);
      let j = i + 2;
      let params = "";
      while (j < chars.length && !/[@-~]/.test(chars[j]!)) params += chars[j++];
      const final = chars[j]!;
      i = j;
      const n = Number(params.replace("?", "").split(";")[0] || "0");
      const line = row(r);
      switch (final) {
        case "K": // erase in line: 0 right of the cursor, 1 left of it, 2 all
          if (n === 0) line.splice(c);
          else if (n === 1) for (let k = 0; k <= c && k < line.length; k++) line[k] = " ";
          else line.splice(0);
          break;
        case "J": // erase below (and right of the cursor)
          line.splice(c);
          rows.splice(r + 1);
          break;
        case "G": c = Math.max(0, (n || 1) - 1); break;
        case "A": r = Math.max(0, r - (n || 1)); break;
        case "B": r += n || 1; break;
        case "C": c += n || 1; break;
        case "D": c = Math.max(0, c - (n || 1)); break;
        case "h": case "l": case "m": break; // modes (cursor visibility, wrapping), colours
        default: throw new Error(`unsupported escape CSI ${params}${final}`);
      }
      continue;
    }
    if (ch === "\r") c = 0;
    else if (ch === "\n") r++;
    else if (ch === "\b") c = Math.max(0, c - 1);
    else if (ch >= " ") {
      const line = row(r);
      while (line.length < c) line.push(" ");
      line[c++] = ch;
    }
  }
  row(r);
  return rows.map((l) => l.join("").trimEnd());
}
