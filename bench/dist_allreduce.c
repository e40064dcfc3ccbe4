/* dist_allreduce: the gradient allreduce of a data-parallel step on its own,
 * as Open MPI does it with the MCA settings of the environment. Run it as
 *   mpirun -np 2 --bind-to core build/bin/dist_allreduce [bytes] [repeats] [mode]
 * and compare settings, e.g. OMPI_MCA_btl_vader_single_copy_mechanism=cma
 * against none (neurite-run's default, docs/cluster.md). Each allreduce
 * starts after a barrier, so a rank's time is the collective's, not the wait
 * for a late rank. Prints the median, 10th and 90th percentiles (ms).
 * mode "blocking" (default): one MPI_Allreduce. "overlap": what bucketing
 * would do for the MLP, whose last layers' gradients (the first 15% of the
 * bytes) are ready before the first layer's backward: MPI_Iallreduce of
 * those, 0.4 ms of computing without MPI calls (the first layer's backward
 * at batch 128), MPI_Iallreduce of the rest, MPI_Waitall; the time printed
 * is that minus the 0.4 ms, to compare with "blocking": it is what the
 * collectives add to the step. "sharded": what a sharded optimizer step
 * adds (dist::shard_optimizer): on 2 ranks each part MPI_Reduce'd to its
 * rank in place (else MPI_Reduce_scatter in place, each rank's sum moved to
 * its part), and MPI_Allgatherv of the block in place after the (here
 * absent) step of the part. A fourth argument "touch" writes the block
 * before each repeat, as a step's backward writes the gradients: with CMA
 * (which reads the other process's pages) this changes the figures. */
#include <mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Busy work without MPI calls, standing in for a layer's backward. */
static double compute_for(double seconds)
{
    double start = MPI_Wtime(), x = 1.0;
    while (MPI_Wtime() - start < seconds)
        for (int i = 0; i < 1000; ++i)
            x = x * 1.0000001 + 1e-9;
    return x;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    /* 940,608 bytes: the gradient arena of the Fashion-MNIST MLP. */
    long bytes = argc > 1 ? atol(argv[1]) : 940608;
    int repeats = argc > 2 ? atoi(argv[2]) : 200;
    int overlap = argc > 3 && strcmp(argv[3], "overlap") == 0;
    int sharded = argc > 3 && strcmp(argv[3], "sharded") == 0;
    int touch = argc > 4 && strcmp(argv[4], "touch") == 0;
    const double backward_seconds = 0.4e-3;
    double sink = 0;
    if (bytes < 4 || repeats < 1) {
        if (rank == 0)
            fprintf(stderr, "usage: dist_allreduce [bytes >= 4] [repeats >= 1]\n");
        MPI_Finalize();
        return 2;
    }
    int count = (int)(bytes / 4);
    float *grads = malloc((size_t)count * sizeof(float));
    double *ms = malloc((size_t)repeats * sizeof(double));
    if (!grads || !ms)
        MPI_Abort(MPI_COMM_WORLD, 1);
    for (int i = 0; i < count; ++i)
        grads[i] = 1e-6f * (float)(i % 1000);
    /* Each rank's part, on 64-byte lines as neurite's arena splits it. */
    int *counts = malloc((size_t)size * sizeof(int)), *starts = malloc((size_t)size * sizeof(int));
    if (!counts || !starts)
        MPI_Abort(MPI_COMM_WORLD, 1);
    for (int r = 0; r < size; ++r)
        starts[r] = (int)(((long)count * r / size + 15) / 16 * 16);
    for (int r = 0; r < size; ++r)
        counts[r] = (r + 1 < size ? starts[r + 1] : count) - starts[r];
    for (int r = 0; r < repeats; ++r) {
        if (touch)
            for (int i = 0; i < count; ++i)
                grads[i] *= 0.5f;
        MPI_Barrier(MPI_COMM_WORLD);
        double start = MPI_Wtime();
        if (overlap) {
            int early = count * 15 / 100;
            MPI_Request requests[2];
            MPI_Iallreduce(MPI_IN_PLACE, grads + (count - early), early, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                           &requests[0]);
            sink += compute_for(backward_seconds);
            MPI_Iallreduce(MPI_IN_PLACE, grads, count - early, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &requests[1]);
            MPI_Waitall(2, requests, MPI_STATUSES_IGNORE);
            ms[r] = (MPI_Wtime() - start - backward_seconds) * 1e3;
        } else if (sharded) {
            if (size == 2) { /* as neurite does on 2 ranks: each part reduced to its rank */
                for (int k = 0; k < size; ++k)
                    MPI_Reduce(k == rank ? MPI_IN_PLACE : grads + starts[k], grads + starts[k], counts[k], MPI_FLOAT,
                               MPI_SUM, k, MPI_COMM_WORLD);
            } else {
                MPI_Reduce_scatter(MPI_IN_PLACE, grads, counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
                if (starts[rank] > 0)
                    memmove(grads + starts[rank], grads, (size_t)counts[rank] * sizeof(float));
            }
            MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, grads, counts, starts, MPI_FLOAT, MPI_COMM_WORLD);
            ms[r] = (MPI_Wtime() - start) * 1e3;
        } else {
            MPI_Allreduce(MPI_IN_PLACE, grads, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            ms[r] = (MPI_Wtime() - start) * 1e3;
        }
    }
    qsort(ms, (size_t)repeats, sizeof(double), by_value);
    if (rank == 0)
        printf("dist_allreduce ranks=%d bytes=%d mode=%s%s median_ms=%.3f p10_ms=%.3f p90_ms=%.3f repeats=%d%s\n",
               size, count * 4, overlap ? "overlap" : sharded ? "sharded" : "blocking", touch ? " touched" : "",
               ms[repeats / 2], ms[repeats / 10], ms[repeats * 9 / 10], repeats, sink < 0 ? " " : "");
    free(grads);
    free(ms);
    free(counts);
    free(starts);
    MPI_Finalize();
    return 0;
}
