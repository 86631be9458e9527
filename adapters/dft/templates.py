"""The default job script, a `string.Template` filled in by `inputs.write_job`.

The same script serves both backends: SLURM reads its `#SBATCH` lines, and the
local backend runs it with `bash job.sh` in a session of its own (to bash the
`#SBATCH` lines are comments). A user template (`adapter.slurm.template`) may
use any of these keys:

    $job_name $job_dir $campaign $label $nodes $ntasks $cpus_per_task $time
    $sbatch_extra $setup $command $python $threads
"""

from __future__ import annotations

JOB_SCRIPT = """\
#!/bin/bash
#SBATCH --job-name=$job_name
#SBATCH --nodes=$nodes
#SBATCH --ntasks=$ntasks
#SBATCH --cpus-per-task=$cpus_per_task
#SBATCH --time=$time
#SBATCH --output=slurm-%j.out
$sbatch_extra
# Written by loop for campaign $campaign ($label).
set -eu
cd $job_dir
export OMP_NUM_THREADS=$threads
$setup
$command
"""

#: The command of a job run by the local calculators (EMT, CHGNet).
LOCAL_COMMAND = "$python -m adapters.dft.run_local ."
#: The command of a VASP job; `setup` usually loads the module that provides it.
VASP_COMMAND = "srun vasp_std"
