// The parts of LLVM 14's C API that nasc uses. Headers live in
// /usr/include/llvm-c-14 (Debian's llvm-14-dev); Package.swift adds that path.
#include <llvm-c/Core.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <llvm-c/IRReader.h>
