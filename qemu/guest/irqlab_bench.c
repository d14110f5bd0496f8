// SPDX-License-Identifier: GPL-2.0
/*
 * irqlab guest driver: MMIO loops run from the guest, for the host's storm
 * test and benchmarks. A posted-write storm is what drivers that hammer a
 * doorbell do: every writel() becomes a posted vfio-user REGION_WRITE that the
 * device server must absorb at the rate the guest issues them.
 */
#include <linux/ktime.h>
#include <linux/sched.h>

#include "irqlab.h"

/* How often the loops let the scheduler in (a long storm must not stall the CPU). */
#define IRQLAB_RESCHED_EVERY	4096

/* What "run" in debugfs shows for the last loop. */
static void irqlab_record_run(struct irqlab_dev *idev, const char *op, u32 n, u32 value,
			      u64 loop_ns, u64 read_ns)
{
	struct irqlab_run *r = &idev->last_run;

	r->op = op;
	r->n = n;
	r->value = value;
	r->loop_ns = loop_ns;
	r->read_ns = read_ns;
}

int irqlab_storm(struct irqlab_dev *idev, u32 n)
{
	u64 t0, t1, t2;
	u32 i, count;

	t0 = ktime_get_ns();
	for (i = 0; i < n; i++) {
		writel(i, idev->regs + IRQLAB_REG_DOORBELL);
		if ((i % IRQLAB_RESCHED_EVERY) == IRQLAB_RESCHED_EVERY - 1)
			cond_resched();
	}
	t1 = ktime_get_ns();
	/* The read waits behind every posted write: it measures the backlog. */
	count = readl(idev->regs + IRQLAB_REG_DB_COUNT);
	t2 = ktime_get_ns();
	irqlab_record_run(idev, "storm", n, count, t1 - t0, t2 - t1);
	return 0;
}

int irqlab_mmio_reads(struct irqlab_dev *idev, u32 n)
{
	u64 t0;
	u32 i, v = 0;

	t0 = ktime_get_ns();
	for (i = 0; i < n; i++) {
		v = readl(idev->regs + IRQLAB_REG_ID);
		if ((i % IRQLAB_RESCHED_EVERY) == IRQLAB_RESCHED_EVERY - 1)
			cond_resched();
	}
	irqlab_record_run(idev, "reads", n, v, ktime_get_ns() - t0, 0);
	return 0;
}

/*
 * Interrupt ping-pong: ring queue q's doorbell with one work item and wait
 * (interrupts on, spinning) until the queue's handler has seen the interrupt
 * the completion raises, n times. n over the time taken is the rate at which
 * this guest takes the queue's interrupts one after the other, doorbell write
 * and device included. value: how many waits timed out (100 ms each).
 */
int irqlab_pingpong(struct irqlab_dev *idev, unsigned int q, u32 n)
{
	struct irqlab_queue *queue;
	u32 i, timeouts = 0;
	u64 t0;

	if (q >= idev->nr_queues)
		return -EINVAL;
	queue = &idev->queues[q];
	t0 = ktime_get_ns();
	for (i = 0; i < n; i++) {
		s64 before = atomic64_read(&queue->count);
		unsigned long deadline = jiffies + msecs_to_jiffies(100);

		writel(1, idev->regs + IRQLAB_QUEUE_REG(q, IRQLAB_Q_DOORBELL));
		while (atomic64_read(&queue->count) == before) {
			if (time_after(jiffies, deadline)) {
				timeouts++;
				break;
			}
			cpu_relax();
		}
		if ((i % 256) == 255)
			cond_resched();
	}
	irqlab_record_run(idev, "pingpong", n, timeouts, ktime_get_ns() - t0, 0);
	return 0;
}
