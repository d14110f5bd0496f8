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

int irqlab_storm(struct irqlab_dev *idev, u32 n)
{
	struct irqlab_run *r = &idev->last_run;
	u64 t0, t1;
	u32 i;

	t0 = ktime_get_ns();
	for (i = 0; i < n; i++) {
		writel(i, idev->regs + IRQLAB_REG_DOORBELL);
		if ((i % IRQLAB_RESCHED_EVERY) == IRQLAB_RESCHED_EVERY - 1)
			cond_resched();
	}
	t1 = ktime_get_ns();
	/* The read waits behind every posted write: it measures the backlog. */
	r->value = readl(idev->regs + IRQLAB_REG_DB_COUNT);
	r->read_ns = ktime_get_ns() - t1;
	r->loop_ns = t1 - t0;
	r->n = n;
	r->op = "storm";
	return 0;
}

int irqlab_mmio_reads(struct irqlab_dev *idev, u32 n)
{
	struct irqlab_run *r = &idev->last_run;
	u64 t0;
	u32 i, v = 0;

	t0 = ktime_get_ns();
	for (i = 0; i < n; i++) {
		v = readl(idev->regs + IRQLAB_REG_ID);
		if ((i % IRQLAB_RESCHED_EVERY) == IRQLAB_RESCHED_EVERY - 1)
			cond_resched();
	}
	r->loop_ns = ktime_get_ns() - t0;
	r->read_ns = 0;
	r->value = v;
	r->n = n;
	r->op = "reads";
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
	struct irqlab_run *r = &idev->last_run;
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
	r->loop_ns = ktime_get_ns() - t0;
	r->read_ns = 0;
	r->value = timeouts;
	r->n = n;
	r->op = "pingpong";
	return 0;
}
