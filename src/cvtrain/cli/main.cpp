#include <cstdio>
int main() { std::puts("cvtrain"); return 0; }
