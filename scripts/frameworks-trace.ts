// Prints the trace each GenAI framework or instrumentation makes with this one, per mode of the
// (proposed) outerGenAiSpan option, for one call and one streamed call to the simulated gateway:
// the span tree, which spans carry usage, and the token metric points of every scope.
//   sh scripts/with-node.sh node --import tsx scripts/frameworks-trace.ts [framework,...] [mode,...]
// The README's "With other GenAI instrumentations and frameworks" trees come from this output.
import {
  FRAMEWORKS,
  makeOpenai6Dir,
  renderTree,
  runFrameworkApp,
  tokenTotals,
  usageSpans,
  type Framework,
} from '../test/support/frameworks';

async function main(): Promise<void> {
  const frameworks = (process.argv[2]?.split(',') ?? FRAMEWORKS) as Framework[];
  const modes = process.argv[3]?.split(',') ?? ['default'];
  const openai6 = makeOpenai6Dir();
  try {
    for (const framework of frameworks) {
      const { runs, warnings } = await runFrameworkApp(framework, modes, openai6.dir);
      for (const run of runs) {
        const tokens = tokenTotals(run);
        const points = (['input', 'output'] as const)
          .map(
            (type) =>
              `${type} ${tokens[type].sum} in ${tokens[type].count} point(s) [${tokens[type].scopes.join(', ')}]`,
          )
          .join('; ');
        console.log(
          `\n### ${framework}, ${run.failed ? 'failed (503, retried once)' : run.stream ? 'streamed' : 'not streamed'}, mode ${run.mode}`,
        );
        console.log(
          `usage sent ${run.usage ? `${run.usage.input}/${run.usage.output}` : 'none'}; spans with usage: ${usageSpans(run.spans).length}; tokens: ${points}`,
        );
        console.log(
          `spans started ${run.lifecycle.started}, ended ${run.lifecycle.ended}; recognised: ${JSON.stringify(run.recognised.map((r) => r?.scope ?? null))}`,
        );
        console.log(renderTree(run.spans));
      }
      if (warnings.length) console.log(`warnings: ${warnings.join(' | ')}`);
    }
  } finally {
    openai6.remove();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
