// irqlab doctor: placeholder until the lab set-up lands (reports node and koffi).
export async function run(): Promise<number> {
  process.stdout.write(`node ${process.version}\n`);
  return 0;
}
