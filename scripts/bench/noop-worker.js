// The baseline of `npm run bench:intake`: a Worker that reads the webhook body and answers
// what intake answers, doing nothing else. Run by the same wrangler/workerd as ours, so the
// ratio of the two throughputs isolates the cost of our intake from the local runtime's.
export default {
  async fetch(request) {
    await request.text();
    return Response.json({ id: "noop", duplicate: false });
  },
};
