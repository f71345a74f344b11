// tests/mcp/sdk/client_handlers.mjs — how the test clients answer the fixture server's
// requests to the client, shared by the stdio (tests/mcp/sdk/stdio_client.mjs) and HTTP
// (tests/http/sdk_http_client.mjs) SDK tests: sampling echoes the first message back,
// elicitation accepts with each field's default (or the first allowed value).
// `types` is the SDK's types module (each test loads the SDK its own way).
// Must not: import the SDK itself.
export function answerServerRequests(client, types) {
  client.setRequestHandler(types.CreateMessageRequestSchema, async (req) => ({
    role: 'assistant', model: 'test-model',
    content: { type: 'text', text: `echo ${req.params.messages[0].content.text}` },
  }));
  client.setRequestHandler(types.ElicitRequestSchema, async (req) => {
    const props = req.params.requestedSchema.properties;
    const content = {};
    for (const [k, v] of Object.entries(props)) {
      if (v.default !== undefined) content[k] = v.default;
      else if (v.type === 'string') content[k] = v.enum ? v.enum[0] : (v.oneOf ? v.oneOf[0].const : 'x@example.com');
      else if (v.type === 'array') content[k] = [v.items.enum ? v.items.enum[0] : v.items.anyOf[0].const];
    }
    return { action: 'accept', content };
  });
}
