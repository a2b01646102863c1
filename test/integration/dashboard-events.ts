/**
 * The dashboard's Server-Sent Events stream (GET /api/events) as the tests read it: one
 * `{ event, data }` per event block (comments and keep-alives passed over), in order, until the stream ends or `signal` aborts it.
 */
export async function* dashboardEvents(url: string, signal: AbortSignal): AsyncGenerator<{ event: string; data: unknown }> {
  const res = await fetch(`${url}/api/events`, { signal });
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (\w+)\n/.exec(block)?.[1];
      const at = block.indexOf('data: ');
      if (event === undefined || at < 0) continue; // a comment or keep-alive
      yield { event, data: JSON.parse(block.slice(at + 6)) as unknown };
    }
  }
}
