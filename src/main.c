/* main.c - placeholder until the server shell lands. */
int main(void);
int main(void) { return 0; }
